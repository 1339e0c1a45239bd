# A known program for the network dedupe test (src/access/net/dedupe.test.ts): the same accesses
# many times, to two UDP ports, a refused TCP port, IPv6, a unix stream listener (bind, listen,
# connect, accept) and an abstract seqpacket one, UDP sendto; a forked child connects once; then
# the process execs itself ("again") and does it all once more as a new image.
# argv: PORT_A PORT_B PORT_REFUSED DIR [again]
import os, socket, sys

a, b, refused, d = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
again = len(sys.argv) > 5
tag = 'again' if again else 'first'
if not again:
    print(os.getpid(), flush=True)

for i in range(50):
    for p in (a, b):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(('127.0.0.1', p))
        s.close()
for i in range(20):
    s = socket.socket()
    try:
        s.connect(('127.0.0.1', refused))
    except ConnectionRefusedError:
        pass
    s.close()
for i in range(10):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.connect(('::1', a))
    s.close()

path = os.path.join(d, tag + '.sock')
l = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
l.bind(path)
l.listen()
for i in range(5):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(path)
    x, _ = l.accept()
    x.close()
    c.close()
name = '\0lantern-dedupe-' + tag + '-' + str(os.getpid())
q = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
q.bind(name)
q.listen()
for i in range(3):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    c.connect(name)
    x, _ = q.accept()
    x.close()
    c.close()

u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(30):
    u.sendto(b'x', ('127.0.0.1', a))
u.close()

if not again:
    child = os.fork()
    if child == 0:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(('127.0.0.1', a))
        s.connect(('127.0.0.1', a))
        print(os.getpid(), flush=True)
        os._exit(0)
    os.waitpid(child, 0)
    os.execv(sys.executable, [sys.executable, sys.argv[0], *sys.argv[1:5], 'again'])
