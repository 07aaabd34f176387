module goroscope.example/lockorder

go 1.21
