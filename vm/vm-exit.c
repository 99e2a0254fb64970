/* vm-exit: power the QEMU guest off with a status byte.
 *
 * Writes BYTE to the isa-debug-exit device (-device isa-debug-exit,
 * iobase=0xf4,iosize=0x04); QEMU then exits with status (BYTE << 1) | 1.
 * The cloud kernel has no /dev/port, hence ioperm + outb. Built with
 * `gcc -static -O2` by vm/run-tests.sh; runs in the busybox initramfs.
 *
 * usage: vm-exit BYTE   (0..255)
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/io.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: vm-exit BYTE\n");
        return 2;
    }
    int byte = atoi(argv[1]) & 0xff;
    sync();
    if (ioperm(0xf4, 4, 1) != 0) {
        perror("vm-exit: ioperm(0xf4)");
        return 1;
    }
    outb((unsigned char)byte, 0xf4);
    /* Not reached when the device exists. */
    fprintf(stderr, "vm-exit: isa-debug-exit device did not stop the VM\n");
    return 1;
}
