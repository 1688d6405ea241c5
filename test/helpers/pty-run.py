#!/usr/bin/env python3
"""Runs a command on a terminal of its own, as a user at a terminal would, for the engines' -it:

  pty-run.py ROWS COLS [--on TEXT ACTION]... -- CMD [ARG...]

The terminal has ROWS x COLS from the start. Each --on fires once, in order, when TEXT appears
in the output after the previous one fired; ACTION is resize:R:C (sets the terminal's size, so
the command gets SIGWINCH, as when a window is resized) or send:TEXT (types TEXT; \\n is Enter).
Prints what the command wrote, with \\r\\n as \\n, and exits with its status; 124 after 120 s.
"""
import fcntl, os, select, struct, subprocess, sys, termios, time

def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))

def main(argv):
    rows, cols = int(argv[0]), int(argv[1])
    rest = argv[2:]
    actions = []
    while rest and rest[0] == '--on':
        actions.append((rest[1], rest[2]))
        rest = rest[3:]
    if not rest or rest[0] != '--':
        sys.exit('usage: pty-run.py ROWS COLS [--on TEXT ACTION]... -- CMD [ARG...]')
    command = rest[1:]
    master, slave = os.openpty()
    set_size(master, rows, cols)

    def controlling_terminal():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    child = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, preexec_fn=controlling_terminal, close_fds=True)
    os.close(slave)
    output = b''
    seen = 0  # output before this offset has matched an action already
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every holder of the terminal's other end has closed it
                break
            if not chunk:
                break
            output += chunk
        while actions:
            text, action = actions[0]
            at = output.find(text.encode(), seen)
            if at < 0:
                break
            seen = at + len(text)
            actions.pop(0)
            kind, _, arg = action.partition(':')
            if kind == 'resize':
                r, c = arg.split(':')
                set_size(master, int(r), int(c))
            elif kind == 'send':
                os.write(master, arg.replace('\\n', '\n').encode())
        if child.poll() is not None and not ready:
            break
    else:
        child.kill()
        sys.stdout.write(output.decode(errors='replace').replace('\r\n', '\n'))
        sys.exit(124)
    status = child.wait()
    sys.stdout.write(output.decode(errors='replace').replace('\r\n', '\n'))
    sys.exit(status if status >= 0 else 128 - status)

main(sys.argv[1:])
