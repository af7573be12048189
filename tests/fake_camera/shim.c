/*
 * A fake V4L2 camera for the tests, loaded with LD_PRELOAD into a test's child
 * process (tests/camera.rs compiles it with the system `cc`).
 *
 * It makes /dev/video1 (a UVC metadata node, listed first, as tmpfs lists the newer
 * node first) and /dev/video0 (the capture node) appear, with their
 * /sys/class/video4linux/videoN/name files, and answers the ioctls the `v4l` crate
 * issues (through syscall(SYS_ioctl, ...), not ioctl()). Everything that is not a
 * fake path or a fake descriptor goes to the real function.
 *
 * FAKE_CAMERA selects the scenario:
 *   laptop  MJPEG 1280x720 + 1920x1080, YUYV 640x480 (+ 1280x720 at 10 fps)
 *   hd      MJPEG 1280x720 + 1920x1080 only
 *   yuyv    YUYV 320x240, 640x480, 1280x720
 *   nv12    NV12 640x480 only
 *   bayer   raw Bayer (RGGB) 640x480 only, which the app does not decode
 *   busy    opening video0 fails with EBUSY
 *   denied  opening video0 fails with EACCES
 *   unplug  YUYV 640x480; after 5 frames the camera is unplugged (ENODEV, the
 *           node is gone) and comes back 400 ms later
 *   stall   YUYV 640x480; the first stream stops sending after 5 frames (poll
 *           never reports a frame); streams opened later are fine
 * Every buffer is page-padded plus one more page, as some drivers do. The first
 * frame of every stream is bad, as many webcams' are: MJPEG all zeros; a raw one
 * with its bottom half missing (zeros) and flagged V4L2_BUF_FLAG_ERROR, as
 * uvcvideo flags an incomplete frame.
 * Frames are quadrants: top left red, top right green, bottom left blue, bottom
 * right white. MJPEG frames are the files FAKE_CAMERA_JPEG_DIR/WIDTHxHEIGHT.jpg.
 * Unknown ioctls on a fake node are written to stderr ("fake camera: unknown ioctl").
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/videodev2.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CAMERA_NAME "Fake HD Webcam"
#define PAGE 4096u
#define MAX_HANDLES 32
#define MAX_BUFFERS 8
#define EVENT_AFTER_FRAMES 5
#define REPLUG_AFTER_NS 400000000LL

enum scenario { LAPTOP, HD, YUYV_ONLY, NV12_ONLY, BAYER, BUSY, DENIED, UNPLUG, STALL, UNKNOWN };

struct format {
    uint32_t fourcc;
    uint32_t width;
    uint32_t height;
    uint32_t fps;
};

static const struct format laptop_formats[] = {
    {V4L2_PIX_FMT_MJPEG, 1280, 720, 30},
    {V4L2_PIX_FMT_MJPEG, 1920, 1080, 30},
    {V4L2_PIX_FMT_YUYV, 640, 480, 30},
    {V4L2_PIX_FMT_YUYV, 1280, 720, 10},
};
static const struct format hd_formats[] = {
    {V4L2_PIX_FMT_MJPEG, 1920, 1080, 30},
    {V4L2_PIX_FMT_MJPEG, 1280, 720, 30},
};
static const struct format yuyv_formats[] = {
    {V4L2_PIX_FMT_YUYV, 1280, 720, 30},
    {V4L2_PIX_FMT_YUYV, 640, 480, 30},
    {V4L2_PIX_FMT_YUYV, 320, 240, 30},
};
static const struct format nv12_formats[] = {
    {V4L2_PIX_FMT_NV12, 640, 480, 30},
};
static const struct format bayer_formats[] = {
    {V4L2_PIX_FMT_SRGGB8, 640, 480, 30},
};
static const struct format vga_yuyv_formats[] = {
    {V4L2_PIX_FMT_YUYV, 640, 480, 30},
};

/* The capture node's state. Guarded by `lock`. */
struct camera {
    const struct format *formats;
    size_t format_count;
    size_t current; /* index into formats */
    int streaming;
    int stream_owner; /* the fd that holds the buffers, or -1 */
    uint32_t buffer_count;
    uint32_t buffer_length;
    int buffer_memfd;
    unsigned char *buffer_memory;
    int queued[MAX_BUFFERS];
    uint32_t sequence; /* frames sent in this stream */
    long long stream_start_ns;
    unsigned streams_started;
    long long unplugged_at_ns; /* 0 while plugged in */
    int stalled;
};

struct handle {
    int fd;
    int node; /* 0: capture, 1: metadata */
    int nonblocking;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static enum scenario active_scenario = UNKNOWN;
static struct camera camera = {.stream_owner = -1, .buffer_memfd = -1};
static struct handle handles[MAX_HANDLES];
static size_t handle_count;

/* The real functions, looked up once. */
static long (*real_syscall)(long, ...);
static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real_close)(int);
static int (*real_poll)(struct pollfd *, nfds_t, int);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static void *(*real_mmap64)(void *, size_t, int, int, int, off64_t);
static DIR *(*real_opendir)(const char *);
static struct dirent *(*real_readdir)(DIR *);
static struct dirent64 *(*real_readdir64)(DIR *);
static int (*real_closedir)(DIR *);
static int (*real_dirfd)(DIR *);

#define LOOK_UP(name) (*(void **)(&real_##name) = dlsym(RTLD_NEXT, #name))

static void initialise(void) {
    LOOK_UP(syscall);
    LOOK_UP(open);
    LOOK_UP(open64);
    LOOK_UP(openat);
    LOOK_UP(openat64);
    LOOK_UP(close);
    LOOK_UP(poll);
    LOOK_UP(mmap);
    LOOK_UP(mmap64);
    LOOK_UP(opendir);
    LOOK_UP(readdir);
    LOOK_UP(readdir64);
    LOOK_UP(closedir);
    LOOK_UP(dirfd);
    const char *name = getenv("FAKE_CAMERA");
    static const struct {
        const char *name;
        enum scenario scenario;
        const struct format *formats;
        size_t count;
    } table[] = {
        {"laptop", LAPTOP, laptop_formats, sizeof laptop_formats / sizeof *laptop_formats},
        {"hd", HD, hd_formats, sizeof hd_formats / sizeof *hd_formats},
        {"yuyv", YUYV_ONLY, yuyv_formats, sizeof yuyv_formats / sizeof *yuyv_formats},
        {"nv12", NV12_ONLY, nv12_formats, sizeof nv12_formats / sizeof *nv12_formats},
        {"bayer", BAYER, bayer_formats, sizeof bayer_formats / sizeof *bayer_formats},
        {"busy", BUSY, laptop_formats, sizeof laptop_formats / sizeof *laptop_formats},
        {"denied", DENIED, laptop_formats, sizeof laptop_formats / sizeof *laptop_formats},
        {"unplug", UNPLUG, vga_yuyv_formats, 1},
        {"stall", STALL, vga_yuyv_formats, 1},
    };
    for (size_t i = 0; name != NULL && i < sizeof table / sizeof *table; i++) {
        if (strcmp(name, table[i].name) == 0) {
            active_scenario = table[i].scenario;
            camera.formats = table[i].formats;
            camera.format_count = table[i].count;
        }
    }
    if (active_scenario == UNKNOWN) {
        fprintf(stderr, "fake camera: unknown scenario FAKE_CAMERA=%s; no cameras\n",
                name != NULL ? name : "(unset)");
    }
}

static void ensure_initialised(void) { pthread_once(&init_once, initialise); }

static long long now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
}

static void sleep_ns(long long ns) {
    if (ns <= 0) return;
    struct timespec wait = {.tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL};
    while (nanosleep(&wait, &wait) != 0 && errno == EINTR) {
    }
}

/* Whether /dev/video0 exists now (under `lock`). */
static int capture_node_present(void) {
    if (camera.unplugged_at_ns == 0) return 1;
    if (now_ns() - camera.unplugged_at_ns < REPLUG_AFTER_NS) return 0;
    if (camera.stream_owner != -1) return 0; /* the old handle still holds it */
    camera.unplugged_at_ns = 0;
    return 1;
}

/* ---- paths ---- */

/* The node number of "/dev/videoN", or -1. */
static int device_node(const char *path) {
    if (path == NULL || active_scenario == UNKNOWN) return -1;
    if (strcmp(path, "/dev/video0") == 0) return 0;
    if (strcmp(path, "/dev/video1") == 0) return 1;
    return -1;
}

/* The node number of "/sys/class/video4linux/videoN/name", or -1. */
static int name_node(const char *path) {
    if (path == NULL || active_scenario == UNKNOWN) return -1;
    if (strcmp(path, "/sys/class/video4linux/video0/name") == 0) return 0;
    if (strcmp(path, "/sys/class/video4linux/video1/name") == 0) return 1;
    return -1;
}

static struct handle *find_handle(int fd) {
    for (size_t i = 0; i < handle_count; i++) {
        if (handles[i].fd == fd) return &handles[i];
    }
    return NULL;
}

/* Opens a fake path, or returns -2 when `path` is not one. */
static int open_fake(const char *path, int flags) {
    ensure_initialised();
    int node = device_node(path);
    int name = name_node(path);
    if (node < 0 && name < 0) return -2;
    if (name >= 0) {
        pthread_mutex_lock(&lock);
        int present = name == 1 || capture_node_present();
        pthread_mutex_unlock(&lock);
        if (!present) {
            errno = ENOENT;
            return -1;
        }
        int fd = memfd_create("fake-video-name", MFD_CLOEXEC);
        if (fd < 0) return -1;
        static const char text[] = CAMERA_NAME "\n";
        if (write(fd, text, sizeof text - 1) != (ssize_t)(sizeof text - 1) ||
            lseek(fd, 0, SEEK_SET) != 0) {
            real_close(fd);
            errno = EIO;
            return -1;
        }
        return fd;
    }
    pthread_mutex_lock(&lock);
    int result;
    if (node == 0 && !capture_node_present()) {
        errno = ENOENT;
        result = -1;
    } else if (node == 0 && active_scenario == BUSY) {
        errno = EBUSY;
        result = -1;
    } else if (node == 0 && active_scenario == DENIED) {
        errno = EACCES;
        result = -1;
    } else if (handle_count == MAX_HANDLES) {
        errno = EMFILE;
        result = -1;
    } else {
        /* A real descriptor, so that the process sees it held (/proc/self/fd). */
        result = memfd_create(node == 0 ? "fake-video0" : "fake-video1", MFD_CLOEXEC);
        if (result >= 0) {
            handles[handle_count].fd = result;
            handles[handle_count].node = node;
            handles[handle_count].nonblocking = (flags & O_NONBLOCK) != 0;
            handle_count++;
        }
    }
    pthread_mutex_unlock(&lock);
    return result;
}

/* The mode argument is there only with O_CREAT or O_TMPFILE. */
#define MODE_ARGUMENT(flags)                                                           \
    mode_t mode = 0;                                                                   \
    if (((flags) & (O_CREAT | O_TMPFILE)) != 0) {                                      \
        va_list arguments;                                                             \
        va_start(arguments, flags);                                                    \
        mode = (mode_t)va_arg(arguments, int);                                         \
        va_end(arguments);                                                             \
    }

#define FAKE_OPEN(function)                                                            \
    int function(const char *path, int flags, ...) {                                   \
        MODE_ARGUMENT(flags)                                                           \
        int fake = open_fake(path, flags);                                             \
        return fake != -2 ? fake : real_##function(path, flags, mode);                 \
    }

#define FAKE_OPENAT(function)                                                          \
    int function(int directory, const char *path, int flags, ...) {                    \
        MODE_ARGUMENT(flags)                                                           \
        int fake = open_fake(path, flags);                                             \
        return fake != -2 ? fake : real_##function(directory, path, flags, mode);      \
    }

FAKE_OPEN(open)
FAKE_OPEN(open64)
FAKE_OPENAT(openat)
FAKE_OPENAT(openat64)

/* ---- buffers and frames (under `lock`) ---- */

static void release_buffers(void) {
    if (camera.buffer_memory != NULL) {
        munmap(camera.buffer_memory, (size_t)camera.buffer_count * camera.buffer_length);
    }
    if (camera.buffer_memfd >= 0) real_close(camera.buffer_memfd);
    camera.buffer_memory = NULL;
    camera.buffer_memfd = -1;
    camera.buffer_count = 0;
    camera.buffer_length = 0;
    camera.streaming = 0;
    camera.stream_owner = -1;
    memset(camera.queued, 0, sizeof camera.queued);
}

int close(int fd) {
    ensure_initialised();
    pthread_mutex_lock(&lock);
    struct handle *handle = find_handle(fd);
    if (handle != NULL) {
        if (camera.stream_owner == fd) release_buffers();
        *handle = handles[handle_count - 1];
        handle_count--;
    }
    pthread_mutex_unlock(&lock);
    return real_close(fd);
}

static uint32_t size_image(const struct format *format) {
    uint32_t pixels = format->width * format->height;
    switch (format->fourcc) {
    case V4L2_PIX_FMT_NV12:
        return pixels * 3 / 2;
    default: /* YUYV, and MJPEG's worst case as uvcvideo gives it */
        return pixels * 2;
    }
}

static void fill_pix_format(struct v4l2_pix_format *pix, const struct format *format) {
    memset(pix, 0, sizeof *pix);
    pix->width = format->width;
    pix->height = format->height;
    pix->pixelformat = format->fourcc;
    pix->field = V4L2_FIELD_NONE;
    pix->bytesperline = format->fourcc == V4L2_PIX_FMT_YUYV ? format->width * 2
                        : format->fourcc == V4L2_PIX_FMT_NV12 ? format->width
                                                              : 0;
    pix->sizeimage = size_image(format);
    pix->colorspace = V4L2_COLORSPACE_SRGB;
}

/* The quadrant colour at (x, y): red, green / blue, white. */
static void pattern_rgb(const struct format *format, uint32_t x, uint32_t y, int rgb[3]) {
    int right = x >= format->width / 2;
    int bottom = y >= format->height / 2;
    static const int colours[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}};
    const int *colour = colours[bottom * 2 + right];
    memcpy(rgb, colour, sizeof colours[0]);
}

/* BT.601 limited range, the inverse of what decoders use. */
static void rgb_to_yuv(const int rgb[3], int yuv[3]) {
    int r = rgb[0], g = rgb[1], b = rgb[2];
    yuv[0] = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16;
    yuv[1] = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128;
    yuv[2] = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128;
}

static uint32_t draw_yuyv(const struct format *format, unsigned char *out) {
    unsigned char *pixel = out;
    for (uint32_t y = 0; y < format->height; y++) {
        for (uint32_t x = 0; x < format->width; x += 2) {
            int rgb[3], yuv[3];
            pattern_rgb(format, x, y, rgb);
            rgb_to_yuv(rgb, yuv);
            pixel[0] = (unsigned char)yuv[0];
            pixel[1] = (unsigned char)yuv[1];
            pixel[2] = (unsigned char)yuv[0];
            pixel[3] = (unsigned char)yuv[2];
            pixel += 4;
        }
    }
    return (uint32_t)(pixel - out);
}

static uint32_t draw_nv12(const struct format *format, unsigned char *out) {
    uint32_t width = format->width, height = format->height;
    unsigned char *chroma = out + (size_t)width * height;
    for (uint32_t y = 0; y < height; y++) {
        for (uint32_t x = 0; x < width; x++) {
            int rgb[3], yuv[3];
            pattern_rgb(format, x, y, rgb);
            rgb_to_yuv(rgb, yuv);
            out[(size_t)y * width + x] = (unsigned char)yuv[0];
            if (y % 2 == 0 && x % 2 == 0) {
                size_t at = (size_t)(y / 2) * width + x;
                chroma[at] = (unsigned char)yuv[1];
                chroma[at + 1] = (unsigned char)yuv[2];
            }
        }
    }
    return width * height * 3 / 2;
}

/* Copies WIDTHxHEIGHT.jpg from FAKE_CAMERA_JPEG_DIR; 0 bytes when it is missing. */
static uint32_t copy_jpeg(const struct format *format, unsigned char *out, uint32_t room) {
    const char *directory = getenv("FAKE_CAMERA_JPEG_DIR");
    if (directory == NULL) return 0;
    char path[4096];
    int length = snprintf(path, sizeof path, "%s/%ux%u.jpg", directory, format->width,
                          format->height);
    if (length < 0 || (size_t)length >= sizeof path) return 0;
    int fd = real_open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    uint32_t total = 0;
    while (total < room) {
        ssize_t got = read(fd, out + total, room - total);
        if (got <= 0) break;
        total += (uint32_t)got;
    }
    real_close(fd);
    return total;
}

/* Writes frame `sequence` into buffer `index`; returns the bytes used. */
static uint32_t draw_frame(uint32_t index, uint32_t sequence) {
    const struct format *format = &camera.formats[camera.current];
    unsigned char *out = camera.buffer_memory + (size_t)index * camera.buffer_length;
    memset(out, 0, camera.buffer_length);
    switch (format->fourcc) {
    case V4L2_PIX_FMT_YUYV:
        return draw_yuyv(format, out);
    case V4L2_PIX_FMT_NV12:
        return draw_nv12(format, out);
    case V4L2_PIX_FMT_MJPEG:
        return sequence == 0 ? PAGE : copy_jpeg(format, out, size_image(format));
    default:
        return 0;
    }
}

static long long next_frame_due_ns(void) {
    uint32_t fps = camera.formats[camera.current].fps;
    return camera.stream_start_ns + (long long)camera.sequence * (1000000000LL / fps);
}

static int queued_buffer(void) {
    for (uint32_t i = 0; i < camera.buffer_count; i++) {
        if (camera.queued[i]) return (int)i;
    }
    return -1;
}

/* What poll sees on a capture handle now: POLLIN, POLLERR|POLLHUP, or 0 (not yet). */
static short capture_events(int fd, long long *due_ns) {
    *due_ns = 0;
    if (camera.unplugged_at_ns != 0) return POLLERR | POLLHUP;
    if (!camera.streaming || camera.stream_owner != fd || queued_buffer() < 0) return POLLERR;
    if (active_scenario == UNPLUG && camera.streams_started == 1 &&
        camera.sequence >= EVENT_AFTER_FRAMES) {
        camera.unplugged_at_ns = now_ns();
        return POLLERR | POLLHUP;
    }
    if (active_scenario == STALL && camera.streams_started == 1 &&
        camera.sequence >= EVENT_AFTER_FRAMES) {
        camera.stalled = 1;
        return 0;
    }
    *due_ns = next_frame_due_ns();
    return now_ns() >= *due_ns ? POLLIN : 0;
}

/* ---- ioctls (under `lock`) ---- */

static int fail(int error) {
    errno = error;
    return -1;
}

static int query_capabilities(const struct handle *handle, struct v4l2_capability *caps) {
    memset(caps, 0, sizeof *caps);
    snprintf((char *)caps->driver, sizeof caps->driver, "uvcvideo");
    snprintf((char *)caps->card, sizeof caps->card, CAMERA_NAME);
    snprintf((char *)caps->bus_info, sizeof caps->bus_info, "usb-0000:00:14.0-6");
    caps->version = (6u << 16) | (8u << 8);
    caps->capabilities = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_META_CAPTURE | V4L2_CAP_STREAMING |
                         V4L2_CAP_EXT_PIX_FORMAT | V4L2_CAP_DEVICE_CAPS;
    caps->device_caps = (handle->node == 0 ? V4L2_CAP_VIDEO_CAPTURE : V4L2_CAP_META_CAPTURE) |
                        V4L2_CAP_STREAMING | V4L2_CAP_EXT_PIX_FORMAT;
    return 0;
}

static int enumerate_formats(struct v4l2_fmtdesc *description) {
    if (description->type != V4L2_BUF_TYPE_VIDEO_CAPTURE) return fail(EINVAL);
    uint32_t distinct = 0;
    for (size_t i = 0; i < camera.format_count; i++) {
        uint32_t fourcc = camera.formats[i].fourcc;
        int seen = 0;
        for (size_t j = 0; j < i; j++) seen |= camera.formats[j].fourcc == fourcc;
        if (seen) continue;
        if (distinct == description->index) {
            uint32_t index = description->index, type = description->type;
            memset(description, 0, sizeof *description);
            description->index = index;
            description->type = type;
            description->pixelformat = fourcc;
            description->flags = fourcc == V4L2_PIX_FMT_MJPEG ? V4L2_FMT_FLAG_COMPRESSED : 0;
            snprintf((char *)description->description, sizeof description->description, "%.4s",
                     (const char *)&fourcc);
            return 0;
        }
        distinct++;
    }
    return fail(EINVAL);
}

static int enumerate_sizes(struct v4l2_frmsizeenum *size) {
    uint32_t found = 0;
    for (size_t i = 0; i < camera.format_count; i++) {
        const struct format *format = &camera.formats[i];
        if (format->fourcc != size->pixel_format) continue;
        if (found == size->index) {
            size->type = V4L2_FRMSIZE_TYPE_DISCRETE;
            size->discrete.width = format->width;
            size->discrete.height = format->height;
            return 0;
        }
        found++;
    }
    return fail(EINVAL);
}

static const struct format *find_format(uint32_t fourcc, uint32_t width, uint32_t height) {
    for (size_t i = 0; i < camera.format_count; i++) {
        const struct format *format = &camera.formats[i];
        if (format->fourcc == fourcc && format->width == width && format->height == height) {
            return format;
        }
    }
    return NULL;
}

static int enumerate_intervals(struct v4l2_frmivalenum *interval) {
    const struct format *format =
        find_format(interval->pixel_format, interval->width, interval->height);
    if (format == NULL || interval->index != 0) return fail(EINVAL);
    interval->type = V4L2_FRMIVAL_TYPE_DISCRETE;
    interval->discrete.numerator = 1;
    interval->discrete.denominator = format->fps;
    return 0;
}

static int set_format(struct v4l2_format *requested) {
    if (requested->type != V4L2_BUF_TYPE_VIDEO_CAPTURE) return fail(EINVAL);
    if (camera.stream_owner != -1) return fail(EBUSY);
    const struct v4l2_pix_format *pix = &requested->fmt.pix;
    /* As drivers do: the nearest size in the asked encoding, else the first format. */
    size_t best = camera.format_count;
    unsigned long long best_distance = ~0ULL;
    for (size_t i = 0; i < camera.format_count; i++) {
        const struct format *format = &camera.formats[i];
        if (format->fourcc != pix->pixelformat) continue;
        long long dw = (long long)format->width - pix->width;
        long long dh = (long long)format->height - pix->height;
        unsigned long long distance = (unsigned long long)(dw * dw + dh * dh);
        if (distance < best_distance) {
            best_distance = distance;
            best = i;
        }
    }
    camera.current = best < camera.format_count ? best : 0;
    fill_pix_format(&requested->fmt.pix, &camera.formats[camera.current]);
    return 0;
}

static int parameters(struct v4l2_streamparm *parameters) {
    if (parameters->type != V4L2_BUF_TYPE_VIDEO_CAPTURE) return fail(EINVAL);
    /* Each size has one rate here, so setting one keeps it. */
    memset(&parameters->parm, 0, sizeof parameters->parm);
    parameters->parm.capture.capability = V4L2_CAP_TIMEPERFRAME;
    parameters->parm.capture.timeperframe.numerator = 1;
    parameters->parm.capture.timeperframe.denominator = camera.formats[camera.current].fps;
    parameters->parm.capture.readbuffers = 0;
    return 0;
}

static int request_buffers(int fd, struct v4l2_requestbuffers *request) {
    if (request->type != V4L2_BUF_TYPE_VIDEO_CAPTURE || request->memory != V4L2_MEMORY_MMAP) {
        return fail(EINVAL);
    }
    if (camera.stream_owner != -1 && camera.stream_owner != fd) return fail(EBUSY);
    release_buffers();
    if (request->count == 0) return 0;
    uint32_t count = request->count < 2 ? 2 : request->count > MAX_BUFFERS ? MAX_BUFFERS
                                                                          : request->count;
    uint32_t used = size_image(&camera.formats[camera.current]);
    /* Page-padded, and a page more: the mapped buffer is longer than the image. */
    uint32_t length = (used + PAGE - 1) / PAGE * PAGE + PAGE;
    int memfd = memfd_create("fake-video0-buffers", MFD_CLOEXEC);
    if (memfd < 0) return -1;
    size_t total = (size_t)count * length;
    if (ftruncate(memfd, (off_t)total) != 0) {
        real_close(memfd);
        return fail(ENOMEM);
    }
    void *memory = real_mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (memory == MAP_FAILED) {
        real_close(memfd);
        return fail(ENOMEM);
    }
    camera.buffer_memfd = memfd;
    camera.buffer_memory = memory;
    camera.buffer_count = count;
    camera.buffer_length = length;
    camera.stream_owner = fd;
    request->count = count;
    request->capabilities = V4L2_BUF_CAP_SUPPORTS_MMAP;
    return 0;
}

static int check_buffer(int fd, const struct v4l2_buffer *buffer) {
    if (buffer->type != V4L2_BUF_TYPE_VIDEO_CAPTURE || buffer->memory != V4L2_MEMORY_MMAP ||
        camera.stream_owner != fd || buffer->index >= camera.buffer_count) {
        return fail(EINVAL);
    }
    return 0;
}

static void describe_buffer(struct v4l2_buffer *buffer, uint32_t index) {
    uint32_t type = buffer->type;
    memset(buffer, 0, sizeof *buffer);
    buffer->index = index;
    buffer->type = type;
    buffer->memory = V4L2_MEMORY_MMAP;
    buffer->length = camera.buffer_length;
    buffer->m.offset = index * camera.buffer_length;
    buffer->field = V4L2_FIELD_NONE;
    buffer->flags = V4L2_BUF_FLAG_MAPPED | V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC;
    if (camera.queued[index]) buffer->flags |= V4L2_BUF_FLAG_QUEUED;
}

static int dequeue_buffer(int fd, struct v4l2_buffer *buffer, int nonblocking) {
    if (buffer->type != V4L2_BUF_TYPE_VIDEO_CAPTURE || camera.stream_owner != fd) {
        return fail(EINVAL);
    }
    for (;;) {
        long long due;
        short events = capture_events(fd, &due);
        if (events & POLLHUP) return fail(ENODEV);
        if (events & POLLERR) return fail(EINVAL);
        if (events & POLLIN) break;
        if (nonblocking) return fail(EAGAIN);
        /* A blocking read: wait for the frame without holding the lock. */
        pthread_mutex_unlock(&lock);
        sleep_ns(due > 0 ? due - now_ns() : 5000000LL);
        pthread_mutex_lock(&lock);
    }
    int index = queued_buffer();
    uint32_t used = draw_frame((uint32_t)index, camera.sequence);
    describe_buffer(buffer, (uint32_t)index);
    buffer->flags &= ~(uint32_t)V4L2_BUF_FLAG_QUEUED;
    if (camera.sequence == 0 && camera.formats[camera.current].fourcc != V4L2_PIX_FMT_MJPEG) {
        /* Incomplete: the bottom half never came. */
        unsigned char *frame = camera.buffer_memory + (size_t)index * camera.buffer_length;
        memset(frame + used / 2, 0, used - used / 2);
        buffer->flags |= V4L2_BUF_FLAG_ERROR;
    }
    buffer->bytesused = used;
    buffer->sequence = camera.sequence;
    long long now = now_ns();
    buffer->timestamp.tv_sec = now / 1000000000LL;
    buffer->timestamp.tv_usec = (now % 1000000000LL) / 1000;
    camera.queued[index] = 0;
    camera.sequence++;
    return 0;
}

static int fake_ioctl(int fd, unsigned long request, void *argument) {
    pthread_mutex_lock(&lock);
    struct handle *handle = find_handle(fd);
    int result;
    if (handle == NULL) {
        result = fail(EBADF); /* closed meanwhile */
    } else if (argument == NULL) {
        result = fail(EFAULT);
    } else if (handle->node == 0 && camera.unplugged_at_ns != 0) {
        result = fail(ENODEV);
    } else if ((unsigned int)request == VIDIOC_QUERYCAP) {
        result = query_capabilities(handle, argument);
    } else if (handle->node != 0) {
        result = fail(EINVAL); /* a metadata node: nothing for video */
    } else {
        switch ((unsigned int)request) {
        case VIDIOC_ENUM_FMT:
            result = enumerate_formats(argument);
            break;
        case VIDIOC_ENUM_FRAMESIZES:
            result = enumerate_sizes(argument);
            break;
        case VIDIOC_ENUM_FRAMEINTERVALS:
            result = enumerate_intervals(argument);
            break;
        case VIDIOC_G_FMT: {
            struct v4l2_format *format = argument;
            if (format->type != V4L2_BUF_TYPE_VIDEO_CAPTURE) {
                result = fail(EINVAL);
                break;
            }
            fill_pix_format(&format->fmt.pix, &camera.formats[camera.current]);
            result = 0;
            break;
        }
        case VIDIOC_S_FMT:
            result = set_format(argument);
            break;
        case VIDIOC_G_PARM:
        case VIDIOC_S_PARM:
            result = parameters(argument);
            break;
        case VIDIOC_REQBUFS:
            result = request_buffers(fd, argument);
            break;
        case VIDIOC_QUERYBUF:
            result = check_buffer(fd, argument);
            if (result == 0) describe_buffer(argument, ((struct v4l2_buffer *)argument)->index);
            break;
        case VIDIOC_QBUF:
            result = check_buffer(fd, argument);
            if (result == 0) {
                uint32_t index = ((struct v4l2_buffer *)argument)->index;
                camera.queued[index] = 1;
                describe_buffer(argument, index);
            }
            break;
        case VIDIOC_DQBUF:
            result = dequeue_buffer(fd, argument, handle->nonblocking);
            break;
        case VIDIOC_STREAMON:
            if (*(const uint32_t *)argument != V4L2_BUF_TYPE_VIDEO_CAPTURE ||
                camera.stream_owner != fd) {
                result = fail(EINVAL);
            } else {
                if (!camera.streaming) {
                    camera.streaming = 1;
                    camera.sequence = 0;
                    camera.stalled = 0;
                    camera.stream_start_ns = now_ns();
                    camera.streams_started++;
                }
                result = 0;
            }
            break;
        case VIDIOC_STREAMOFF:
            if (*(const uint32_t *)argument != V4L2_BUF_TYPE_VIDEO_CAPTURE) {
                result = fail(EINVAL);
            } else {
                if (camera.stream_owner == fd) {
                    camera.streaming = 0;
                    memset(camera.queued, 0, sizeof camera.queued);
                }
                result = 0;
            }
            break;
        default:
            fprintf(stderr, "fake camera: unknown ioctl 0x%08x on video%d\n",
                    (unsigned int)request, handle->node);
            result = fail(ENOTTY);
        }
    }
    pthread_mutex_unlock(&lock);
    return result;
}

/*
 * The x86-64 and AArch64 calling conventions pass the variadic arguments of
 * syscall() in registers, so reading six of them is what glibc's and musl's own
 * syscall() do; the extra ones are passed on unread by the kernel.
 */
long syscall(long number, ...) {
    ensure_initialised();
    va_list arguments;
    va_start(arguments, number);
    long a1 = va_arg(arguments, long), a2 = va_arg(arguments, long);
    long a3 = va_arg(arguments, long), a4 = va_arg(arguments, long);
    long a5 = va_arg(arguments, long), a6 = va_arg(arguments, long);
    va_end(arguments);
    if (number == SYS_ioctl) {
        pthread_mutex_lock(&lock);
        int fake = find_handle((int)a1) != NULL;
        pthread_mutex_unlock(&lock);
        if (fake) return fake_ioctl((int)a1, (unsigned long)a2, (void *)a3);
    }
    return real_syscall(number, a1, a2, a3, a4, a5, a6);
}

/* ---- poll ---- */

static int fake_poll(struct pollfd *fds, nfds_t count, int timeout_ms) {
    long long deadline = timeout_ms < 0 ? -1 : now_ns() + (long long)timeout_ms * 1000000LL;
    for (;;) {
        int ready = 0;
        long long next_due = -1;
        pthread_mutex_lock(&lock);
        for (nfds_t i = 0; i < count; i++) {
            fds[i].revents = 0;
            struct handle *handle = find_handle(fds[i].fd);
            if (handle == NULL) {
                fds[i].revents = POLLNVAL;
            } else if (handle->node != 0) {
                fds[i].revents = POLLERR;
            } else {
                long long due;
                short events = capture_events(fds[i].fd, &due);
                fds[i].revents = (short)(events & (fds[i].events | POLLERR | POLLHUP));
                if (due > 0 && (next_due < 0 || due < next_due)) next_due = due;
            }
            ready += fds[i].revents != 0;
        }
        pthread_mutex_unlock(&lock);
        if (ready > 0) return ready;
        long long now = now_ns();
        if (deadline >= 0 && now >= deadline) return 0;
        long long wake = next_due > 0 ? next_due : now + 5000000LL; /* stalled: look again */
        if (deadline >= 0 && wake > deadline) wake = deadline;
        sleep_ns(wake - now);
    }
}

int poll(struct pollfd *fds, nfds_t count, int timeout_ms) {
    ensure_initialised();
    int fake = 0;
    pthread_mutex_lock(&lock);
    for (nfds_t i = 0; fds != NULL && i < count; i++) fake |= find_handle(fds[i].fd) != NULL;
    pthread_mutex_unlock(&lock);
    /* Only polls on fake descriptors alone are faked; v4l polls one descriptor. */
    return fake ? fake_poll(fds, count, timeout_ms) : real_poll(fds, count, timeout_ms);
}

/* ---- mmap: a fake node's buffers are the shim's memfd ---- */

static void *map_fake(size_t length, int protection, int flags, int fd, off_t offset,
                      int *fake) {
    pthread_mutex_lock(&lock);
    struct handle *handle = find_handle(fd);
    *fake = handle != NULL;
    void *result = MAP_FAILED;
    if (handle == NULL) {
        /* not ours */
    } else if (camera.stream_owner != fd || offset < 0 ||
               (size_t)offset % camera.buffer_length != 0 ||
               (size_t)offset / camera.buffer_length >= camera.buffer_count ||
               length > camera.buffer_length) {
        errno = EINVAL;
    } else {
        result = real_mmap(NULL, length, protection, flags, camera.buffer_memfd, offset);
    }
    pthread_mutex_unlock(&lock);
    return result;
}

void *mmap(void *address, size_t length, int protection, int flags, int fd, off_t offset) {
    ensure_initialised();
    int fake = 0;
    void *mapped = fd >= 0 ? map_fake(length, protection, flags, fd, offset, &fake) : MAP_FAILED;
    return fake ? mapped : real_mmap(address, length, protection, flags, fd, offset);
}

void *mmap64(void *address, size_t length, int protection, int flags, int fd, off64_t offset) {
    ensure_initialised();
    int fake = 0;
    void *mapped =
        fd >= 0 ? map_fake(length, protection, flags, fd, (off_t)offset, &fake) : MAP_FAILED;
    return fake ? mapped : real_mmap64(address, length, protection, flags, fd, offset);
}

/* ---- /dev listing: only the fake nodes, metadata node first ---- */

struct fake_directory {
    int real_fd; /* /dev itself, for dirfd() */
    unsigned next;
    struct dirent entry;
    struct dirent64 entry64;
};

#define MAX_DIRECTORIES 8
static struct fake_directory *directories[MAX_DIRECTORIES];

static struct fake_directory *find_directory(DIR *directory) {
    struct fake_directory *found = NULL;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < MAX_DIRECTORIES; i++) {
        if (directories[i] != NULL && (DIR *)directories[i] == directory) found = directories[i];
    }
    pthread_mutex_unlock(&lock);
    return found;
}

DIR *opendir(const char *path) {
    ensure_initialised();
    if (active_scenario == UNKNOWN ||
        (strcmp(path, "/dev") != 0 && strcmp(path, "/dev/") != 0)) {
        return real_opendir(path);
    }
    struct fake_directory *directory = calloc(1, sizeof *directory);
    if (directory == NULL) return NULL;
    directory->real_fd = real_open("/dev", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < MAX_DIRECTORIES; i++) {
        if (directories[i] == NULL) {
            directories[i] = directory;
            pthread_mutex_unlock(&lock);
            return (DIR *)directory;
        }
    }
    pthread_mutex_unlock(&lock);
    if (directory->real_fd >= 0) real_close(directory->real_fd);
    free(directory);
    errno = EMFILE;
    return NULL;
}

/* The name of entry `index` of the fake /dev, or NULL at its end. */
static const char *fake_entry(unsigned index) {
    static const char *const names[] = {".", "..", "video1", "video0"};
    for (unsigned i = 0, listed = 0; i < sizeof names / sizeof *names; i++) {
        if (strcmp(names[i], "video0") == 0) {
            pthread_mutex_lock(&lock);
            int present = capture_node_present();
            pthread_mutex_unlock(&lock);
            if (!present) continue;
        }
        if (listed++ == index) return names[i];
    }
    return NULL;
}

/* readdir and readdir64: the same, but for the entry type. */
#define FAKE_READDIR(function, type, entry_field)                                      \
    struct type *function(DIR *handle) {                                               \
        ensure_initialised();                                                          \
        struct fake_directory *directory = find_directory(handle);                     \
        if (directory == NULL) return real_##function(handle);                         \
        const char *name = fake_entry(directory->next);                                \
        if (name == NULL) return NULL;                                                 \
        directory->next++;                                                             \
        struct type *entry = &directory->entry_field;                                  \
        memset(entry, 0, sizeof *entry);                                               \
        entry->d_ino = directory->next;                                                \
        entry->d_type = name[0] == '.' ? DT_DIR : DT_CHR;                              \
        entry->d_reclen = sizeof *entry;                                               \
        snprintf(entry->d_name, sizeof entry->d_name, "%s", name);                     \
        return entry;                                                                  \
    }

FAKE_READDIR(readdir, dirent, entry)
FAKE_READDIR(readdir64, dirent64, entry64)

int dirfd(DIR *handle) {
    ensure_initialised();
    struct fake_directory *directory = find_directory(handle);
    return directory != NULL ? directory->real_fd : real_dirfd(handle);
}

int closedir(DIR *handle) {
    ensure_initialised();
    pthread_mutex_lock(&lock);
    struct fake_directory *directory = NULL;
    for (size_t i = 0; i < MAX_DIRECTORIES; i++) {
        if (directories[i] != NULL && (DIR *)directories[i] == handle) {
            directory = directories[i];
            directories[i] = NULL;
        }
    }
    pthread_mutex_unlock(&lock);
    if (directory == NULL) return real_closedir(handle);
    if (directory->real_fd >= 0) real_close(directory->real_fd);
    free(directory);
    return 0;
}
