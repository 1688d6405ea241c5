#!/usr/bin/env python3
"""A --console-socket peer that sizes the terminal when told, as conmon and containerd's shim do
(TIOCSWINSZ on the master, after create or after start): listens on SOCKET and prints
"listening", takes the pty master vmrun sends and prints "master ROWS COLS" (its size then);
then each line "size ROWS COLS" on stdin sets the master's size and prints "sized". Everything
the terminal shows is printed as a JSON string per read. Ends when the terminal closes."""
import fcntl, json, os, select, socket, struct, sys, termios

server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(sys.argv[1])
server.listen(1)
print('listening', flush=True)
conn, _ = server.accept()
_, fds, _, _ = socket.recv_fds(conn, 1024, 1)
master = fds[0]
rows, cols, _, _ = struct.unpack('HHHH', fcntl.ioctl(master, termios.TIOCGWINSZ, b'\0' * 8))
print('master', rows, cols, flush=True)
commands, inputs = b'', [master, 0]
while True:
    ready, _, _ = select.select(inputs, [], [])
    if 0 in ready:
        data = os.read(0, 1024)
        if not data:
            inputs = [master]
        commands += data
        while b'\n' in commands:
            line, commands = commands.split(b'\n', 1)
            _, r, c = line.split()
            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack('HHHH', int(r), int(c), 0, 0))
            print('sized', flush=True)
    if master in ready:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the last holder of the terminal's peer has gone
            break
        if not data:
            break
        print(json.dumps(data.decode('latin-1')), flush=True)
