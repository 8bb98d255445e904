"""An ordinary SQLite web application, unaware of LiteFS: it counts visits per path.

GET /<path> records a visit and answers with the count. On a replica the INSERT is
forwarded to the primary by the interposer, and the SELECT that follows reads the row
back locally (read-your-writes)."""
import http.server
import os
import sqlite3

DB = os.environ.get("APP_DB", "/litefs/app.db")
PORT = int(os.environ.get("PORT", "8080"))


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with sqlite3.connect(DB, isolation_level=None, timeout=10) as db:
            db.execute("CREATE TABLE IF NOT EXISTS visits("
                       "id INTEGER PRIMARY KEY, path TEXT NOT NULL, at TEXT NOT NULL)")
            db.execute("INSERT INTO visits(path, at) VALUES (?, datetime('now'))",
                       (self.path,))
            (count,) = db.execute("SELECT count(*) FROM visits WHERE path = ?",
                                  (self.path,)).fetchone()
        body = f"{self.path}: {count} visits\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    http.server.ThreadingHTTPServer(("", PORT), Handler).serve_forever()
