module goroscope.example/nilchan

go 1.21
