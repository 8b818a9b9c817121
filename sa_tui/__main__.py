from sa_tui.cli import main

raise SystemExit(main())
