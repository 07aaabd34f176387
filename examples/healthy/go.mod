module goroscope.example/healthy

go 1.21
