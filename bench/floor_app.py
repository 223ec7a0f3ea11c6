"""The floor for bench_webhook.py: a bare Flask endpoint that reads the body and answers JSON,
served by the same gunicorn settings, so the webhook's figure can be read against what this
machine's Python, Flask and gunicorn do with no work at all."""

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/webhooks/delivery-reports")
def delivery_report():
    request.get_data()
    return jsonify(recorded=True)
