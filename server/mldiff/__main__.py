from mldiff.cli import main

raise SystemExit(main())
