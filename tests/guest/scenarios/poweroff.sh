#!/bin/sh
# poweroff: nothing to do; /init prints E1KVM-DONE, then poweroff -f.
. /lib/e1kvm.sh
result final poweroff
set_final poweroff
