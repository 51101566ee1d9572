#!/bin/sh
# reboot: /init prints E1KVM-DONE, then reboot -f.
. /lib/e1kvm.sh
result final reboot
set_final reboot
