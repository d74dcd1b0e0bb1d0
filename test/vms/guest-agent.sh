#!/bin/sh
# Control agent for the test guests: reads "<id> <base64 command>" lines from a serial port, runs each with
# sh, and answers "@@<id> <exit code> <base64 output>@@" on its own line. The host side is test/vms/control.ts.
tty=$1
stty -F "$tty" raw -echo 115200 2>/dev/null || busybox stty -F "$tty" raw -echo 115200
exec 3<>"$tty"
while read -r id cmd <&3; do
  case "$id" in ''|*[!0-9a-z]*) continue ;; esac
  out=$(printf %s "$cmd" | base64 -d 2>/dev/null | sh 2>&1)
  rc=$?
  enc=$(printf %s "$out" | base64 | tr -d '\n')
  printf '\n@@%s %s %s@@\n' "$id" "$rc" "$enc" >&3
done
