from nano_claude.cli import main

raise SystemExit(main())
