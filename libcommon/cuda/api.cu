// api: the single exported entry point of libsarface-cuda.so; backend.c
// dlopens the library and calls it to get every CUDA function at once.
#include <string.h>

#include "cuda.h"

extern "C" __attribute__((visibility("default"))) int lc_cuda_api_get(struct lc_cuda_api *api)
{
    // a table of another size is another version's: fill none of it (writing
    // ours into a smaller one would overrun the caller)
    if (api->size != sizeof *api) return 1;
    memset(api, 0, sizeof *api);
    api->size = sizeof *api;
    api->device_count = lc_cuda_device_count;
    api->set_device = lc_cuda_set_device;
    api->alloc = lc_cuda_alloc;
    api->free = lc_cuda_free;
    api->memcpy = lc_cuda_memcpy;
    api->sync = lc_cuda_sync;
    api->versions = lc_cuda_versions;
    api->cudnn_version = lc_cudnn_version;
    api->nccl_version = lc_nccl_version;
    api->normalize_u8_forward = lc_normalize_u8_forward_cuda;
    api->prelu_forward = lc_prelu_forward_cuda;
    api->prelu_backward = lc_prelu_backward_cuda;
    api->bn_forward_train = lc_bn_forward_train_cuda;
    api->bn_forward_eval = lc_bn_forward_eval_cuda;
    api->bn_backward = lc_bn_backward_cuda;
    api->sgd_update = lc_sgd_update_cuda;
    api->linear_forward = lc_linear_forward_cuda;
    api->linear_backward = lc_linear_backward_cuda;
    api->conv2d_forward = lc_conv2d_forward_cuda;
    api->conv2d_backward = lc_conv2d_backward_cuda;
    api->add_forward = lc_add_forward_cuda;
    api->subsample_add = lc_subsample_add_cuda;
    api->l2norm_rows = lc_l2norm_rows_cuda;
    api->memset0 = lc_cuda_memset0;
    api->subsample_backward = lc_subsample_backward_cuda;
    api->l2norm_rows_backward = lc_l2norm_rows_backward_cuda;
    api->dropout_apply = lc_dropout_apply_cuda;
    api->dropout_backward = lc_dropout_backward_cuda;
    api->margin_logits = lc_margin_logits_cuda;
    api->margin_backward = lc_margin_backward_cuda;
    api->cross_entropy_rows = lc_cross_entropy_rows_cuda;
    api->cross_entropy_backward = lc_cross_entropy_backward_cuda;
    api->argmax_rows = lc_argmax_rows_cuda;
    api->dropout_mask = lc_dropout_mask_cuda;
    api->nccl_unique_id = lc_nccl_unique_id_cuda;
    api->nccl_comm_init = lc_nccl_comm_init_cuda;
    api->nccl_poll = lc_nccl_poll_cuda;
    api->nccl_comm_free = lc_nccl_comm_free_cuda;
    api->nccl_allreduce = lc_nccl_allreduce_cuda;
    api->nccl_broadcast = lc_nccl_broadcast_cuda;
    api->scale = lc_scale_cuda;
    api->stream_create = lc_cuda_stream_create;
    api->stream_destroy = lc_cuda_stream_destroy;
    api->event_create = lc_cuda_event_create;
    api->event_destroy = lc_cuda_event_destroy;
    api->event_record = lc_cuda_event_record;
    api->stream_wait = lc_cuda_stream_wait;
    api->host_alloc = lc_cuda_host_alloc;
    api->host_free = lc_cuda_host_free;
    api->memcpy_async = lc_cuda_memcpy_async;
    api->cast = lc_cast_cuda;
    api->cast_add = lc_cast_add_cuda;
    api->cast_layout = lc_cast_layout_cuda;
    api->unscale_check = lc_unscale_check_cuda;
    api->conv2d_forward_dt = lc_conv2d_forward_dt_cuda;
    api->conv2d_backward_dt = lc_conv2d_backward_dt_cuda;
    api->bn_forward_train_dt = lc_bn_forward_train_dt_cuda;
    api->bn_backward_dt = lc_bn_backward_dt_cuda;
    api->bn_prelu_forward_train_dt = lc_bn_prelu_forward_train_dt_cuda;
    api->bn_prelu_backward_dt = lc_bn_prelu_backward_dt_cuda;
    api->prelu_forward_dt = lc_prelu_forward_dt_cuda;
    api->prelu_backward_dt = lc_prelu_backward_dt_cuda;
    api->bn_add_forward_train_dt = lc_bn_add_forward_train_dt_cuda;
    api->bn_backward_shortcut_dt = lc_bn_backward_shortcut_dt_cuda;
    api->add_dt = lc_add_dt_cuda;
    api->subsample_add_dt = lc_subsample_add_dt_cuda;
    api->subsample_backward_dt = lc_subsample_backward_dt_cuda;
    api->dropout_apply_dt = lc_dropout_apply_dt_cuda;
    api->dropout_backward_dt = lc_dropout_backward_dt_cuda;
    api->linear_forward_dt = lc_linear_forward_dt_cuda;
    api->linear_backward_dt = lc_linear_backward_dt_cuda;
    api->bias_prelu_dt = lc_bias_prelu_dt_cuda;
    api->bn_forward_eval_dt = lc_bn_forward_eval_dt_cuda;
    api->bias_add_dt = lc_bias_add_dt_cuda;
    api->bias_add_bn_eval_dt = lc_bias_add_bn_eval_dt_cuda;
    api->device_props = lc_cuda_device_props;
    api->relu_forward = lc_relu_forward_cuda;
    api->relu_backward = lc_relu_backward_cuda;
    api->gelu_forward = lc_gelu_forward_cuda;
    api->gelu_backward = lc_gelu_backward_cuda;
    api->sigmoid_forward = lc_sigmoid_forward_cuda;
    api->sigmoid_backward = lc_sigmoid_backward_cuda;
    api->mul_forward = lc_mul_forward_cuda;
    api->mul_backward = lc_mul_backward_cuda;
    api->concat_forward = lc_concat_forward_cuda;
    api->concat_backward = lc_concat_backward_cuda;
    api->pixel_shuffle_forward = lc_pixel_shuffle_forward_cuda;
    api->pixel_shuffle_backward = lc_pixel_shuffle_backward_cuda;
    api->mul_bcast_forward = lc_mul_bcast_forward_cuda;
    api->mul_bcast_backward = lc_mul_bcast_backward_cuda;
    api->sum_dim_forward = lc_sum_dim_forward_cuda;
    api->sum_dim_backward = lc_sum_dim_backward_cuda;
    api->l2norm_forward = lc_l2norm_forward_cuda;
    api->l2norm_backward = lc_l2norm_backward_cuda;
    api->softmax_forward = lc_softmax_forward_cuda;
    api->softmax_backward = lc_softmax_backward_cuda;
    api->log_softmax_forward = lc_log_softmax_forward_cuda;
    api->log_softmax_backward = lc_log_softmax_backward_cuda;
    api->maxpool2d_forward = lc_maxpool2d_forward_cuda;
    api->maxpool2d_backward = lc_maxpool2d_backward_cuda;
    api->avgpool2d_forward = lc_avgpool2d_forward_cuda;
    api->avgpool2d_backward = lc_avgpool2d_backward_cuda;
    api->gap_forward = lc_gap_forward_cuda;
    api->gap_backward = lc_gap_backward_cuda;
    api->resize_bilinear_forward = lc_resize_bilinear_forward_cuda;
    api->resize_bilinear_backward = lc_resize_bilinear_backward_cuda;
    api->resize_nearest_forward = lc_resize_nearest_forward_cuda;
    api->resize_nearest_backward = lc_resize_nearest_backward_cuda;
    api->resize_nearest_u8 = lc_resize_nearest_u8_cuda;
    api->matmul_forward = lc_matmul_forward_cuda;
    api->matmul_backward = lc_matmul_backward_cuda;
    api->adam_update = lc_adam_update_cuda;
    api->thread_release = lc_cuda_thread_release;
    api->timer_create = lc_cuda_timer_create;
    api->event_elapsed = lc_cuda_event_elapsed;
    api->event_query = lc_cuda_event_query;
    api->nccl_device = lc_nccl_device_cuda;
    api->nccl_finalize = lc_nccl_finalize_cuda;
    api->graph_begin = lc_cuda_graph_begin;
    api->graph_end = lc_cuda_graph_end;
    api->graph_launch = lc_cuda_graph_launch;
    api->graph_free = lc_cuda_graph_free;
    api->scratch_epoch = lc_cuda_scratch_epoch;
    api->sgd_update_table = lc_sgd_update_table_cuda;
    api->adam_update_table = lc_adam_update_table_cuda;
    api->mem_info = lc_cuda_mem_info;
    return 0;
}

extern "C" void lc_cuda_thread_release(void)
{
    lc_cudnn_thread_release();
    lc_linear_thread_release();
    lc_ops_thread_release();
    lc_cuda_runtime_thread_release(); // last: the units above free on the ops' stream
}
