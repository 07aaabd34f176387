module goroscope.example/crash

go 1.21
