/* Register names of the 82540EM (traces, exit statistics). */
#ifndef E1KVM_HW_E1000_NAMES_H
#define E1KVM_HW_E1000_NAMES_H

#include <stddef.h>
#include <stdint.h>

/* Name of the dword register at byte offset @offset of BAR0: a constant
 * string, or one formatted into buf ("MTA[5]", "RAL[0]", "reg0x1234"). */
const char *e1000_reg_name(uint32_t offset, char *buf, size_t len);
/* ExitStatsNamer for BAR0 (memory) and BAR1 (the IOADDR/IODATA window). */
const char *e1000_mmio_reg_name(uint64_t offset, char *buf, size_t len);
const char *e1000_io_reg_name(uint64_t offset, char *buf, size_t len);
/* Interrupt cause bits as names: "TXDW|TXQE". */
const char *e1000_icr_names(uint32_t cause, char *buf, size_t len);
/* A 16-byte TX descriptor decoded: kind (legacy, context, data) and fields. */
const char *e1000_tx_desc_describe(const uint8_t *d, char *buf, size_t len);

#endif
