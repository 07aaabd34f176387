module goroscope.example/heldsend

go 1.21
