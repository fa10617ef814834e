/* Unit tests for dl, the intrusive doubly linked list: push, unlink from
 * the head, the middle and the tail, DL_ENTRY back to the element. */
#include "dl.h"
#include "th.h"

typedef struct {
        int v;
        dl_node_t link;
} item_t;

static int order(const dl_list_t *l, int *out, int max) {
        int n = 0;
        for (const dl_node_t *p = l->head; p && n < max; p = p->next)
                out[n++] = DL_ENTRY(p, item_t, link)->v;
        return n;
}

static void test_push_unlink(void) {
        item_t it[4] = {{1, {0}}, {2, {0}}, {3, {0}}, {4, {0}}};
        dl_list_t l = {NULL, NULL};
        for (int i = 0; i < 4; i++)
                dl_push_front(&l, &it[i].link);
        int o[8];
        TH_CHECK_INT(order(&l, o, 8), 4);
        TH_CHECK(o[0] == 4 && o[1] == 3 && o[2] == 2 && o[3] == 1);
        TH_CHECK(DL_ENTRY(l.tail, item_t, link) == &it[0]);
        dl_unlink(&l, &it[2].link); /* middle */
        dl_unlink(&l, &it[3].link); /* head */
        dl_unlink(&l, &it[0].link); /* tail */
        TH_CHECK_INT(order(&l, o, 8), 1);
        TH_CHECK(l.head == &it[1].link && l.tail == &it[1].link);
        TH_CHECK(it[0].link.prev == NULL && it[0].link.next == NULL);
        dl_unlink(&l, &it[1].link);
        TH_CHECK(l.head == NULL && l.tail == NULL);
        dl_push_front(&l, &it[0].link); /* reusable after unlink */
        TH_CHECK(l.head == &it[0].link && l.tail == &it[0].link);
}

TH_MAIN("dl", TH_T(test_push_unlink))
