// The `wallet` command line: format, gen, ingest, balance, verify, bench.
WalletCommand.main()
