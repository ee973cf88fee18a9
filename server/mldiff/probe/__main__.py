from mldiff.validate.probe import main

main()
