#!/bin/sh
# SSH_ASKPASS helper: prints the password the lab put in $LAB_PASS.
printf "%s\n" "$LAB_PASS"
