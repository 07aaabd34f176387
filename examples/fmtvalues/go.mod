module goroscope.example/fmtvalues

go 1.21
