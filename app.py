"""textgen web app: train on your files, watch it learn, generate, publish.

    python app.py [--host 127.0.0.1] [--port 7860] [--share] [--auth USER:PASS]

The same app, with the same flags, as `textgen app`; this file is what a Hugging
Face Space runs. On a Space the address and port come from GRADIO_SERVER_NAME and
GRADIO_SERVER_PORT, and the login from the Space secret TEXTGEN_AUTH (USER:PASS),
which `textgen deploy-space --auth` sets.
The page is built in textgen_core.app.ui and the work is done by textgen_core.
Named API endpoints (see docs/APP.md): /generate, /start_training, /job_status,
/cancel_training, /resume_training; and the OpenAI-compatible /v1 API on the same
server.
"""

import sys

from textgen_core.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["app", *sys.argv[1:]]))
