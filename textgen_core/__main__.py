from textgen_core.cli import main

raise SystemExit(main())
