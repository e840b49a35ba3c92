# The micropop image: `micropop run`, `micropop db upgrade` and `micropop hardware`.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# libusb for printers addressed as usb://VID:PID (python-escpos opens them through pyusb).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libusb-1.0-0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY hardware ./hardware
COPY migrations ./migrations
RUN pip install . && rm -rf /src

RUN useradd --system --create-home --home-dir /var/lib/micropop micropop
USER micropop
WORKDIR /var/lib/micropop
ENV MICROPOP_DATA_DIR=/var/lib/micropop

EXPOSE 8080
CMD ["micropop", "run"]
