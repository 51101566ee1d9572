/* MSI through KVM (core/kvm.c): GSI routes with irqfds and KVM_SIGNAL_MSI
 * against a real KVM VM with one vCPU that never runs. A message to APIC
 * ID 0 lands in the vCPU's LAPIC IRR, which KVM_GET_LAPIC shows (with
 * posted interrupts KVM moves them to the IRR for the ioctl). The
 * interrupt controllers' default routes, which KVM_SET_GSI_ROUTING would
 * drop if the table left them out, are seen in the IOAPIC's and the PIC's
 * IRR after KVM_IRQ_LINE. Skipped without a usable /dev/kvm. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "core/kvm.h"
#include "core/vcpu.h"
#include "core/vm.h"

#define MSI_ADDR 0xfee00000ull /* APIC ID 0, physical destination */
#define APIC_SVR 0xf0
#define APIC_SVR_ENABLE 0x100
#define APIC_IRR 0x200

static Vm vm;

static int no_setup(Vm *v, Vcpu *c, Error *err)
{
    (void)v;
    (void)c;
    (void)err;
    return 0;
}

/* a VM with vCPU 0's LAPIC software-enabled, so it accepts fixed interrupts */
static void boot_vm(void)
{
    Error err;
    assert_int_equal(kvm_create_vm(&vm, &err), 0);
    vm.setup_vcpu = no_setup;
    assert_int_equal(vcpu_create(&vm, 0, &err), 0);
    struct kvm_lapic_state lapic;
    assert_int_equal(ioctl(vm.vcpus[0].fd, KVM_GET_LAPIC, &lapic), 0);
    uint32_t svr;
    memcpy(&svr, &lapic.regs[APIC_SVR], 4);
    svr |= APIC_SVR_ENABLE | 0xff;
    memcpy(&lapic.regs[APIC_SVR], &svr, 4);
    assert_int_equal(ioctl(vm.vcpus[0].fd, KVM_SET_LAPIC, &lapic), 0);
}

static bool irr_once(unsigned vector)
{
    struct kvm_lapic_state lapic;
    assert_int_equal(ioctl(vm.vcpus[0].fd, KVM_GET_LAPIC, &lapic), 0);
    uint32_t irr;
    memcpy(&irr, &lapic.regs[APIC_IRR + 0x10 * (vector / 32)], 4);
    return irr & (1u << (vector % 32));
}

/* an irqfd may inject from a work item: give it up to a second */
static bool irr_has(unsigned vector)
{
    for (int i = 0; i < 1000; i++) {
        if (irr_once(vector))
            return true;
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
    return false;
}

static int setup(void **state)
{
    (void)state;
    vm.kvm_fd = -1;
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return 0;
    close(fd);
    VmConfig cfg = {.name = "test", .ram_size = 2 << 20, .smp = 1};
    Error err;
    if (vm_init(&vm, &cfg, &err) < 0) {
        fprintf(stderr, "no KVM: %s\n", err.msg);
        vm.kvm_fd = -1;
    }
    return 0;
}

static void need_kvm(void)
{
    if (vm.kvm_fd < 0 || vm.msi_max_routes == 0 || !vm.has_signal_msi) {
        fprintf(stderr, "skipped: no /dev/kvm with MSI routing, irqfd and KVM_SIGNAL_MSI\n");
        skip();
    }
}

static void test_routes_and_send(void **state)
{
    (void)state;
    need_kvm();
    boot_vm();
    assert_false(irr_once(0x40));
    int r = kvm_msi_route_add(&vm, MSI_ADDR, 0x40);
    assert_true(r >= 0);
    kvm_msi_route_fire(&vm, r);
    assert_true(irr_has(0x40));
    /* the route follows its message */
    assert_int_equal(kvm_msi_route_update(&vm, r, MSI_ADDR, 0x51), 0);
    kvm_msi_route_fire(&vm, r);
    assert_true(irr_has(0x51));
    /* KVM_SIGNAL_MSI */
    kvm_msi_send(&vm, MSI_ADDR, 0x62);
    assert_true(irr_has(0x62));
    /* the default routes are still there: IOAPIC input 20 (a PCI INTx
     * line), PIC master input 4 / IOAPIC 4 (COM1) */
    kvm_set_irq(&vm, 20, 1);
    kvm_set_irq(&vm, 4, 1);
    struct kvm_irqchip chip = {.chip_id = KVM_IRQCHIP_IOAPIC};
    assert_int_equal(ioctl(vm.vm_fd, KVM_GET_IRQCHIP, &chip), 0);
    assert_true(chip.chip.ioapic.irr & (1u << 20));
    assert_true(chip.chip.ioapic.irr & (1u << 4));
    chip = (struct kvm_irqchip){.chip_id = KVM_IRQCHIP_PIC_MASTER};
    assert_int_equal(ioctl(vm.vm_fd, KVM_GET_IRQCHIP, &chip), 0);
    assert_true(chip.chip.pic.irr & (1u << 4));
    kvm_set_irq(&vm, 20, 0);
    kvm_set_irq(&vm, 4, 0);
    kvm_msi_route_del(&vm, r);
    assert_int_equal(vm.msi_routes[r].fd, -1);
    kvm_msi_route_fire(&vm, r); /* a stale handle: nothing */
    assert_int_equal(kvm_msi_route_update(&vm, r, MSI_ADDR, 0x70), -1);
    kvm_destroy_vm(&vm);
}

/* The bound: every route in use, then add fails cleanly; freed ones are
 * used again. */
static void test_route_limit(void **state)
{
    (void)state;
    need_kvm();
    boot_vm();
    int n = 0;
    while (kvm_msi_route_add(&vm, MSI_ADDR, 0x30 + (uint32_t)(n % 16)) >= 0)
        assert_true(++n <= VM_MSI_ROUTES);
    assert_int_equal(n, vm.msi_max_routes);
    kvm_msi_route_del(&vm, 7);
    assert_int_equal(kvm_msi_route_add(&vm, MSI_ADDR, 0x45), 7);
    kvm_msi_route_fire(&vm, 7);
    assert_true(irr_has(0x45));
    for (int i = 0; i < n; i++)
        kvm_msi_route_del(&vm, i);
    for (int i = 0; i < VM_MSI_ROUTES; i++)
        assert_int_equal(vm.msi_routes[i].fd, -1);
    kvm_destroy_vm(&vm);
}

/* A route held across the VM's re-creation (guest reset) works in the new
 * VM, and a message signalled while there was no VM does not reach it. */
static void test_route_across_reset(void **state)
{
    (void)state;
    need_kvm();
    boot_vm();
    int r = kvm_msi_route_add(&vm, MSI_ADDR, 0x48);
    assert_true(r >= 0);
    kvm_destroy_vm(&vm);
    assert_false(vm.msi_routes[r].installed);
    kvm_msi_route_fire(&vm, r); /* no VM: dropped */
    uint64_t one = 1;
    assert_int_equal(write(vm.msi_routes[r].fd, &one, sizeof(one)), sizeof(one));
    /* a route added with no VM waits for the next one */
    int r2 = kvm_msi_route_add(&vm, MSI_ADDR, 0x58);
    assert_true(r2 >= 0 && r2 != r);
    boot_vm();
    assert_true(vm.msi_routes[r].installed && vm.msi_routes[r2].installed);
    usleep(20000);
    assert_false(irr_once(0x48));
    kvm_msi_route_fire(&vm, r);
    assert_true(irr_has(0x48));
    kvm_msi_route_fire(&vm, r2);
    assert_true(irr_has(0x58));
    kvm_msi_route_del(&vm, r);
    kvm_msi_route_del(&vm, r2);
    kvm_destroy_vm(&vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes_and_send),
        cmocka_unit_test(test_route_limit),
        cmocka_unit_test(test_route_across_reset),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
