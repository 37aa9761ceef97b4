from xiangyin.cli import main

raise SystemExit(main())
