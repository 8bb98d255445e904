"""Writes rows with unique keys through the interposer until a deadline, one autocommit
INSERT each, and prints the outcome of every one, for the caller to check against the
database: "ok KEY T DONE", or "fail KEY T CODE MESSAGE" (T: when it was issued, DONE: when
it was acknowledged, epoch seconds; CODE: SQLite's extended result code). An optional third argument pauses that many
milliseconds between writes."""
import os
import sqlite3
import sys
import time

name, seconds = sys.argv[1], float(sys.argv[2])
pause = float(sys.argv[3]) / 1000 if len(sys.argv) > 3 else 0.0
con = sqlite3.connect(os.path.join(os.environ["LITEFS_FWD_MOUNT"], "app.db"),
                      isolation_level=None, timeout=5)
end = time.time() + seconds
i = 0
while time.time() < end:
    key = "%s-%d" % (name, i)
    i += 1
    t = time.time()
    try:
        con.execute("INSERT INTO k(key, node) VALUES (?, ?)", (key, name))
        print("ok %s %.3f %.3f" % (key, t, time.time()), flush=True)
    except sqlite3.Error as e:
        print("fail %s %.3f %s %s" % (key, t, getattr(e, "sqlite_errorcode", -1),
                                      str(e).replace(" ", "_")), flush=True)
    if pause:
        time.sleep(pause)
