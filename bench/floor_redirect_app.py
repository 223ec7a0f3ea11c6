"""The floor for bench_redirect.py: a bare Flask endpoint answering every /c/<code> with the
same 302, served by the same gunicorn settings, so the redirect's figures can be read against
what this machine's Python, Flask and gunicorn do with no work at all."""

from flask import Flask, redirect

app = Flask(__name__)


@app.get("/c/<code>")
def follow(code: str):
    if code == "probe":
        return "", 404
    return redirect("https://shop.example/spring-sale?utm_source=sms", 302)
