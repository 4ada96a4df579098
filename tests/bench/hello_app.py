"""The baseline of the gateway benchmark: a bare Flask hello, nothing else in the request path."""

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/hello")
def hello():
    return jsonify(message="hello")
