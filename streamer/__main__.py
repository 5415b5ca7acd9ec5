from streamer.cli.app import main

main()
