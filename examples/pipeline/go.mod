module goroscope.example/pipeline

go 1.21
