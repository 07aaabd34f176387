module goroscope.example/selectforever

go 1.21
