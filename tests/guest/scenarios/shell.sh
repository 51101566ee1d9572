#!/bin/sh
# shell: interactive busybox shell on the serial console (ttyS0); when it
# exits, /init prints E1KVM-DONE and powers off.  cttyhack finds the real
# console tty so that job control and ^C work.
. /lib/e1kvm.sh
setsid cttyhack sh
