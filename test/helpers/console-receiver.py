#!/usr/bin/env python3
"""A --console-socket peer, as containerd's shim is one: listens on SOCKET, takes the pty master
vmrun sends, sets its size to ROWS x COLS, types INPUT into it after DELAY seconds, and prints
everything the terminal shows until it closes, as a Python bytes literal."""
import os, select, socket, struct, sys, termios, fcntl

path, rows, cols, delay, typed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path)
server.listen(1)
print('listening', flush=True)
conn, _ = server.accept()
_, fds, _, _ = socket.recv_fds(conn, 1024, 1)
master = fds[0]
fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
shown, sent = b'', False
while True:
    ready, _, _ = select.select([master], [], [], delay if not sent else 120)
    if not ready:
        if sent:
            break
        os.write(master, typed.encode())
        sent = True
        continue
    try:
        data = os.read(master, 4096)
    except OSError:  # EIO: the last holder of the terminal's peer has gone
        break
    if not data:
        break
    shown += data
print(repr(shown), flush=True)
