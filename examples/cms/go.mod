module goroscope.example/cms

go 1.21
