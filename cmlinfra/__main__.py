from cmlinfra.cli.app import main

main()
