module goroscope.example/overflow

go 1.21
