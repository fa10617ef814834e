# docker/image.mk — the image binary of a service, read after the Makefile by
# docker/build-images.sh:
#   make -f Makefile -f docker/image.mk B=<build dir> <build dir>/image/weir-<service>
# It is the release binary itself (<build dir>/bin/weir-<service>): the
# Makefile's link (LINK_LIBS there, the same for every program) links in the Debian
# libraries that ship static archives and leaves out avro-c's snappy codec,
# which is what this file used to do for the images only.  Copied, so that a
# later `make all` cannot change an image's binary under build-images.sh.

# Keep the objects between runs, so the next `make images` relinks only.
.SECONDARY:

$(B)/image/weir-%: $(B)/bin/weir-%
	@mkdir -p $(@D)
	cp $< $@
