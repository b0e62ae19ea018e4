# syntax=docker/dockerfile:1
# Multi-stage: build a static binary, ship it alone on a distroless base
# with a non-root user and no shell.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/checkoutd ./cmd/checkoutd \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/checkoutd /checkoutd
COPY --from=build --chown=nonroot:nonroot /out/data /data
USER nonroot:nonroot
ENV CHECKOUT_ADDR=:8080 \
    CHECKOUT_DATA_DIR=/data \
    CHECKOUT_DEMO_ADDR=
EXPOSE 8080
VOLUME ["/data"]
ENTRYPOINT ["/checkoutd"]
CMD ["serve"]
