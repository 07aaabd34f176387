module goroscope.example/many

go 1.21
