module goroscope.example/values

go 1.21
