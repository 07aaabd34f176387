module goroscope.example/condwait

go 1.21
