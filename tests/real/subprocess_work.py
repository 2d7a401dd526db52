# A plain script, no event loop: it runs a child three times, reading its
# stdout and stderr (subprocess polls the two pipes), and between runs
# sleeps 300 ms and computes for 200 ms. Nothing in it is a loop's.
import subprocess
import time

for _ in range(3):
    r = subprocess.run(["sh", "-c", "echo out; echo err >&2"], capture_output=True)
    assert r.stdout == b"out\n" and r.stderr == b"err\n"
    time.sleep(0.3)
    end = time.monotonic() + 0.2
    while time.monotonic() < end:
        pass
print("subprocess ok")
