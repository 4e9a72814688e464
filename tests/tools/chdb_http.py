#!/usr/bin/env python3
"""ClickHouse HTTP interface in front of the in-process chdb engine, for tests.

chdb (PyPI ``chdb-core``) is ClickHouse as a library and has no network
listener. This tool serves the parts of ClickHouse's HTTP protocol that the
Rust ``clickhouse`` crate (0.15) and plain HTTP clients such as curl use, so
tests can run against the real engine on a machine without a ClickHouse server:

* ``GET /ping`` and ``GET /`` answer ``Ok.``; ``GET /?query=...`` and ``POST /``
  run a query. The query is the ``query`` URL parameter followed by the
  request body (plain, chunked, or ``multipart/form-data`` with ``query`` and
  ``param_*`` fields as the crate sends when a query has server-side params).
* ``database`` (or the ``X-ClickHouse-Database`` header) selects the current
  database, ``default_format`` the output format when the query has no FORMAT
  clause, ``param_<name>`` fills ``{name:Type}`` placeholders, and every other
  URL parameter that is not an HTTP-only one is applied as a setting for that
  request (``SET`` before, ``SET ... = DEFAULT`` after), so unknown settings
  fail like on a server.
* ``INSERT INTO ... FORMAT <fmt>`` with data is streamed with
  ``Session.send_insert``; ``decompress=1`` bodies are ClickHouse's native
  compressed blocks (16-byte checksum, method byte, sizes, LZ4 or raw data),
  as the crate sends inserts by default. Checksums are not verified.
* Responses are never compressed (the crate only asks for compression through
  ``Accept-Encoding`` and reads ``Content-Encoding``; ``compress=1`` is not
  honoured). Errors come back with the server's HTTP status for the
  exception code (400/404/500/...), the ``X-ClickHouse-Exception-Code`` header
  and ``Code: N. DB::Exception: ...`` as the body, like a real server; a
  successful response carries ``X-ClickHouse-Summary``,
  ``X-ClickHouse-Format`` and ``X-ClickHouse-Query-Id``.

One ``chdb.session.Session(path)`` serves every request, one at a time behind a
lock; a threading server keeps hyper's parallel keep-alive connections from
deadlocking. Data persists in ``--path`` across restarts.

Usage: python3 chdb_http.py --path DIR [--port 0] [--port-file FILE]
Binds 127.0.0.1 only, writes the bound port to FILE once listening, serves
until SIGTERM/SIGINT.
"""

import argparse
import email.parser
import json
import os
import re
import signal
import time
import struct
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

try:
    import lz4.block
    from chdb.session import Session
except ImportError as err:
    sys.exit(
        f"chdb_http: {err}; install with: "
        "pip install -r tests/tools/requirements.txt (chdb-core, lz4)"
    )

# URL parameters of the HTTP interface that are not settings.
HTTP_ONLY_PARAMS = {
    "query", "database", "default_format", "compress", "decompress", "user",
    "password", "quota_key", "query_id", "session_id", "session_timeout",
    "session_check", "role", "buffer_size", "wait_end_of_query", "stacktrace",
    "client_protocol_version",
}

# ClickHouse's exceptionCodeToHTTPStatus (src/Server/HTTP/exceptionCodeToHTTPStatus.cpp),
# keyed by the error name chdb puts at the end of each message.
STATUS_BY_ERROR = {
    **dict.fromkeys(["REQUIRED_PASSWORD"], 401),
    **dict.fromkeys(
        ["UNKNOWN_USER", "WRONG_PASSWORD", "AUTHENTICATION_FAILED",
         "SET_NON_GRANTED_ROLE", "ACCESS_DENIED"], 403),
    **dict.fromkeys(
        ["BAD_ARGUMENTS", "CANNOT_COMPILE_REGEXP", "CANNOT_PARSE_TEXT",
         "CANNOT_PARSE_ESCAPE_SEQUENCE", "CANNOT_PARSE_QUOTED_STRING",
         "CANNOT_PARSE_DATE", "CANNOT_PARSE_DATETIME", "CANNOT_PARSE_NUMBER",
         "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING", "CANNOT_PARSE_IPV4",
         "CANNOT_PARSE_IPV6", "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
         "CANNOT_PARSE_UUID", "DUPLICATE_COLUMN", "ILLEGAL_COLUMN",
         "UNKNOWN_ELEMENT_IN_AST", "UNKNOWN_TYPE_OF_AST_NODE",
         "THERE_IS_NO_COLUMN", "TOO_DEEP_AST", "TOO_BIG_AST",
         "UNEXPECTED_AST_STRUCTURE", "SYNTAX_ERROR", "INCORRECT_DATA",
         "TYPE_MISMATCH", "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE"], 400),
    **dict.fromkeys(
        ["UNKNOWN_TABLE", "UNKNOWN_FUNCTION", "UNKNOWN_IDENTIFIER",
         "UNKNOWN_TYPE", "UNKNOWN_STORAGE", "UNKNOWN_DATABASE",
         "UNKNOWN_SETTING", "UNKNOWN_DIRECTION_OF_SORTING",
         "UNKNOWN_AGGREGATE_FUNCTION", "UNKNOWN_FORMAT",
         "UNKNOWN_DATABASE_ENGINE", "UNKNOWN_TYPE_OF_QUERY", "UNKNOWN_ROLE"], 404),
    **dict.fromkeys(["QUERY_IS_TOO_LARGE"], 413),
    **dict.fromkeys(["NOT_IMPLEMENTED"], 501),
    **dict.fromkeys(["SOCKET_TIMEOUT", "CANNOT_OPEN_FILE", "CANNOT_SCHEDULE_TASK"], 503),
    **dict.fromkeys(["HTTP_LENGTH_REQUIRED"], 411),
    **dict.fromkeys(["TIMEOUT_EXCEEDED"], 408),
    **dict.fromkeys(["UNSUPPORTED_MEDIA_TYPE"], 415),
}

# `INSERT INTO <target> FORMAT <fmt>`: the statement part that send_insert() takes.
INSERT_FORMAT = re.compile(
    rb"\s*(INSERT\s+INTO\s+.*?)\s+FORMAT\s+(\w+)", re.IGNORECASE | re.DOTALL)
VALUES_OR_SELECT = re.compile(rb"\b(VALUES|SELECT)\b", re.IGNORECASE)
TRAILING_FORMAT = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)
SETTING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
NUMBER = re.compile(r"-?\d+(\.\d+)?\Z")

COMPRESSED_HEADER = struct.Struct("<BII")  # method, compressed size (incl. header), raw size
CHECKSUM_SIZE = 16
METHOD_NONE, METHOD_LZ4 = 0x02, 0x82


class ClickHouseError(Exception):
    """An error as the server reports it: `Code: N. DB::Exception: ... (NAME)`."""

    def __init__(self, text):
        if "Code: " in text:
            text = text[text.find("Code: "):]  # chdb may prefix its own context
        else:
            text = f"Code: 1001. DB::Exception: {text}. (STD_EXCEPTION)"
        super().__init__(text.strip())
        code = re.match(r"Code: (\d+)", text)
        self.code = int(code.group(1)) if code else 1001
        names = re.findall(r"\(([A-Z][A-Z0-9_]+)\)", text)
        self.status = STATUS_BY_ERROR.get(names[-1] if names else "", 500)


def error(code, name, message):
    return ClickHouseError(f"Code: {code}. DB::Exception: {message}. ({name})")


def decompress_blocks(data):
    """Decode a body of ClickHouse native compressed blocks (LZ4 or none)."""
    out, pos = [], 0
    while pos < len(data):
        header_at = pos + CHECKSUM_SIZE
        if header_at + COMPRESSED_HEADER.size > len(data):
            raise error(271, "CANNOT_DECOMPRESS", "Truncated compressed block header")
        method, size, raw_size = COMPRESSED_HEADER.unpack_from(data, header_at)
        payload = data[header_at + COMPRESSED_HEADER.size:header_at + size]
        if size < COMPRESSED_HEADER.size or len(payload) != size - COMPRESSED_HEADER.size:
            raise error(271, "CANNOT_DECOMPRESS", "Truncated compressed block")
        if method == METHOD_LZ4:
            try:
                out.append(lz4.block.decompress(payload, uncompressed_size=raw_size))
            except lz4.block.LZ4BlockError as err:
                raise error(271, "CANNOT_DECOMPRESS", f"LZ4: {err}") from err
        elif method == METHOD_NONE:
            out.append(payload)
        else:
            raise error(
                89, "UNKNOWN_COMPRESSION_METHOD", f"Unknown compression method 0x{method:02x}")
        pos = header_at + size
    return b"".join(out)


def quote_identifier(name):
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def setting_literal(value):
    if NUMBER.match(value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def content_type(fmt):
    if fmt.startswith("JSON"):
        return "application/json; charset=UTF-8"
    if fmt.startswith(("TabSeparated", "TSV")):
        return "text/tab-separated-values; charset=UTF-8"
    if fmt.startswith("CSV"):
        return "text/csv; charset=UTF-8; header=absent"
    if fmt.startswith(("RowBinary", "Native", "Parquet", "Arrow", "ORC", "Avro")):
        return "application/octet-stream"
    return "text/plain; charset=UTF-8"


class Engine:
    """The one chdb session, used by one request at a time."""

    def __init__(self, path):
        self.session = Session(path)
        self.lock = threading.Lock()

    def close(self):
        with self.lock:
            self.session.close()

    def run(self, database, settings, params, default_format, url_query, body):
        """Run one HTTP request's query; return (output bytes, format, summary dict)."""
        with self.lock:
            self._execute(f"USE {quote_identifier(database)}")
            applied = []
            try:
                for name, value in settings.items():
                    self._execute(f"SET {name} = {setting_literal(value)}")
                    applied.append(name)
                output, fmt, stats = self._run_query(params, default_format, url_query, body)
            finally:
                for name in applied:
                    self._execute(f"SET {name} = DEFAULT")
        return output, fmt, stats

    def _execute(self, sql, fmt="TabSeparated", params=None):
        try:
            return self.session.query(sql, fmt, params=params or None)
        except Exception as err:  # chdb raises ChdbError or RuntimeError
            raise ClickHouseError(str(err)) from err

    def _run_query(self, params, default_format, url_query, body):
        insert = self._split_insert(url_query, body)
        if insert:
            statement, fmt, data = insert
            return b"", default_format, self._insert(statement, fmt, data)
        if url_query and body:
            sql = url_query + "\n" + body.decode("utf-8")
        else:
            sql = url_query or body.decode("utf-8")
        if not sql.strip():
            raise error(62, "SYNTAX_ERROR", "Empty query")
        result = self._execute(sql, default_format, params)
        trailing = TRAILING_FORMAT.search(sql)
        output = result.bytes()
        return output, trailing.group(1) if trailing else default_format, {
            "read_rows": result.rows_read(),
            "read_bytes": result.bytes_read(),
            "written_rows": result.rows_written(),
            "written_bytes": result.bytes_written(),
            "result_bytes": len(output),
            "elapsed_ns": int(result.elapsed() * 1e9),
        }

    @staticmethod
    def _split_insert(url_query, body):
        """(statement, format, data) when the request is INSERT ... FORMAT with data."""
        if url_query:
            head = url_query.encode("utf-8")
            match = INSERT_FORMAT.fullmatch(head.rstrip())
            return (match.group(1), match.group(2), body) if match else None
        match = INSERT_FORMAT.match(body)
        if not match or VALUES_OR_SELECT.search(match.group(1)):
            return None  # plain SQL, or FORMAT appears only inside the data
        return match.group(1), match.group(2), body[match.end():].lstrip(b" \t\r\n")

    def _insert(self, statement, fmt, data):
        statement, fmt = statement.decode("utf-8"), fmt.decode("ascii")
        try:
            with self.session.send_insert(statement, fmt) as inserter:
                if data:
                    inserter.append(data)
                result = inserter.finish()
        except Exception as err:
            raise ClickHouseError(str(err)) from err
        return {"written_rows": result.rows_written, "written_bytes": result.bytes_written,
                "elapsed_ns": int(result.elapsed * 1e9)}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "chdb-http"
    engine = None  # set in main()

    def do_GET(self):
        self._handle()

    def do_POST(self):
        self._handle()

    def log_message(self, *args):
        """Access logs off; failed queries are logged in _handle."""

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailer fields
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self):
        url = urlsplit(self.path)
        body = self._read_body()
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        if url.path == "/ping" or (url.path == "/" and not body and "query" not in params):
            return self._send(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
        if url.path != "/":
            return self._send(404, f"There is no handle {url.path}\n".encode(),
                              {"Content-Type": "text/plain; charset=UTF-8"})
        url_query = params.get("query", "")
        query_id = params.get("query_id") or str(uuid.uuid4())
        try:
            if params.get("decompress") == "1":
                body = decompress_blocks(body)
            if self.headers.get_content_type() == "multipart/form-data":
                body, form = b"", self._parse_multipart(body)
                url_query = "\n".join(filter(None, [url_query, form.pop("query", "")]))
                params.update(form)
            settings = {k: v for k, v in params.items()
                        if k not in HTTP_ONLY_PARAMS and not k.startswith("param_")}
            bad = [k for k in settings if not SETTING_NAME.match(k)]
            if bad:
                raise error(115, "UNKNOWN_SETTING", f"Unknown setting '{bad[0]}'")
            output, fmt, stats = self.engine.run(
                database=params.get("database") or self.headers.get("X-ClickHouse-Database") or "default",
                settings=settings,
                params={k[len("param_"):]: v for k, v in params.items() if k.startswith("param_")},
                default_format=params.get("default_format") or "TabSeparated",
                url_query=url_query,
                body=body,
            )
        except Exception as err:  # noqa: BLE001 - every failure goes back as an exception response
            if not isinstance(err, ClickHouseError):
                err = ClickHouseError(f"{type(err).__name__}: {err}")
            message = str(err)
            shown = (url_query or body[:200].decode("utf-8", "replace")).replace("\n", " ")[:200]
            print(f"chdb_http: {message.splitlines()[0][:300]} [query: {shown}]", file=sys.stderr, flush=True)
            return self._send(err.status, (message + "\n").encode(), {
                "Content-Type": "text/plain; charset=UTF-8",
                "X-ClickHouse-Exception-Code": str(err.code),
                "X-ClickHouse-Query-Id": query_id,
            })
        summary = {key: str(stats.get(key, 0)) for key in (
            "read_rows", "read_bytes", "written_rows", "written_bytes",
            "total_rows_to_read", "result_rows", "result_bytes", "elapsed_ns")}
        self._send(200, output, {
            "Content-Type": content_type(fmt),
            "X-ClickHouse-Format": fmt,
            "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Summary": json.dumps(summary, separators=(",", ":")),
        })

    def _parse_multipart(self, body):
        header = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
        message = email.parser.BytesParser().parsebytes(header + body)
        return {part.get_param("name", header="Content-Disposition"):
                part.get_payload(decode=True).decode("utf-8")
                for part in message.get_payload()}

    def _send(self, status, payload, headers):
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("X-ClickHouse-Server-Display-Name", "chdb")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", required=True, help="chdb data directory (created if missing)")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1; 0 picks a free one")
    parser.add_argument("--port-file", help="write the bound port here once listening")
    parser.add_argument("--exit-with-parent", action="store_true",
                        help="exit when the process that started this one exits (test runs)")
    args = parser.parse_args()

    Handler.engine = Engine(args.path)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    port = server.server_address[1]
    if args.port_file:
        tmp = f"{args.port_file}.tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.port_file)
    print(f"chdb_http: listening on http://127.0.0.1:{port}/ (data in {args.path})",
          file=sys.stderr, flush=True)

    def stop(signum, _frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.exit_with_parent:
        parent = os.getppid()

        def watch():
            # A test binary that exits never stops its server: notice and stop with it.
            while os.getppid() == parent:
                time.sleep(0.5)
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch, daemon=True).start()
    try:
        server.serve_forever()
    finally:
        server.server_close()
        Handler.engine.close()


if __name__ == "__main__":
    main()
