#!/usr/bin/env bash
# Makes docs/img/call.png: a real `taskapp call` in a real terminal (tmux), captured
# mid-progress with its colours, rendered with rich (ANSI -> SVG) and rsvg-convert.
# Needs tmux and rsvg-convert (apt-get install tmux librsvg2-bin); run from anywhere.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
python="${PYTHON:-python}"
taskapp_bin="$(dirname "$(command -v taskapp)")"

tmux kill-session -t taskapp-shot 2>/dev/null || true
tmux new-session -d -s taskapp-shot -x 92 -y 8 "bash --norc --noprofile"
tmux send-keys -t taskapp-shot \
    "export PS1='\$ ' TERM=xterm-256color PATH=$taskapp_bin:\$PATH; cd $repo; clear" Enter
sleep 0.5
tmux send-keys -t taskapp-shot \
    "taskapp call examples/hello.py:app slow_add a=1 b=2 steps=5 delay=0.3" Enter
sleep 0.95  # the process starts, then a step every 0.3 s: about half-way
tmux capture-pane -t taskapp-shot -e -p > "$work/call.ansi"
sleep 2
tmux kill-session -t taskapp-shot
grep -q "step [1-4]/5" "$work/call.ansi" || { echo "not captured mid-progress" >&2; exit 1; }

"$python" - "$work/call.ansi" "$work/call.svg" <<'EOF'
import re
import sys

from rich.console import Console
from rich.text import Text

source, target = sys.argv[1], sys.argv[2]
lines = open(source, encoding="utf-8").read().rstrip("\n").split("\n")
console = Console(record=True, width=92, force_terminal=True, color_system="truecolor",
                  file=open("/dev/null", "w"))
for line in lines:
    console.print(Text.from_ansi(line), no_wrap=True, overflow="crop")
console.save_svg(target, title="taskapp call")


def shift(match: re.Match[str]) -> str:
    """rsvg-convert drops the leading no-break spaces of a <text>: move the text instead."""
    head, x, middle, length, rest, spaces, body = match.groups()
    blanks = spaces.count("&#160;")
    chars = blanks + len(re.sub(r"&#?\w+;", "_", body))
    width = float(length) / chars
    return (f'{head}x="{float(x) + blanks * width:.1f}"{middle}'
            f'textLength="{float(length) - blanks * width:.1f}"{rest}>{body}</text>')


svg = open(target, encoding="utf-8").read()
svg = re.sub(r'(<text [^>]*?)x="([\d.]+)"([^>]*?)textLength="([\d.]+)"([^>]*)>'
             r"((?:&#160;)+)([^<]*)</text>", shift, svg)
svg = svg.replace("Fira Code", "DejaVu Sans Mono")  # a font that is installed
open(target, "w", encoding="utf-8").write(svg)
EOF
rsvg-convert -z 1.5 "$work/call.svg" -o "$repo/docs/img/call.png"
rm -r "$work"
echo "wrote $repo/docs/img/call.png"
