module goroscope.example/cgo

go 1.21
