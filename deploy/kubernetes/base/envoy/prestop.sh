#!/bin/bash
# The Envoy container's preStop hook: leave the Service, then drain, then
# let the kubelet stop Envoy. The image has no curl, so the two admin POSTs
# are written by hand over bash's /dev/tcp (the admin port is loopback only).
#   1. POST /healthcheck/fail: /ready turns 503 (the readiness probe takes
#      the pod out of the Service's endpoints) and Envoy starts discouraging
#      keep-alive (HTTP/1.1 Connection: close, HTTP/2 GOAWAY).
#   2. wait UNREADY_SECONDS: for the probe to notice and for every node and
#      load balancer to stop sending new connections here.
#   3. POST /drain_listeners?graceful: listeners keep accepting for
#      --drain-time-s while connections wind down, then close.
#   4. wait DRAIN_SECONDS (= --drain-time-s); then the kubelet sends SIGTERM.
# terminationGracePeriodSeconds must exceed UNREADY_SECONDS + DRAIN_SECONDS.
set -u
admin_port=${ENVOY_ADMIN_PORT:-9901}
unready_seconds=${UNREADY_SECONDS:-15}
drain_seconds=${DRAIN_SECONDS:-20}

admin_post() {
  local status
  exec 3<>"/dev/tcp/127.0.0.1/$admin_port" || return 1
  # HTTP/1.1: Envoy answers HTTP/1.0 with 426, its admin port too
  printf 'POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$1" >&3
  read -r _ status _ <&3
  exec 3<&-
  echo "preStop: POST $1 -> ${status:-no answer}"
  [ "${status:-}" = 200 ]
}

admin_post /healthcheck/fail
sleep "$unready_seconds"
admin_post '/drain_listeners?graceful'
sleep "$drain_seconds"
