using Microsoft.ML.OnnxRuntime;
using Trainer.Core.Export.Onnx;
using Trainer.Core.Latency;

namespace Trainer.Core.Tests.Export.Onnx;

/// <summary>The process-wide ONNX Runtime pool can only be chosen before ONNX Runtime's environment exists.</summary>
public sealed class OnnxRuntimeThreadingTests
{
    [Fact]
    public void A_shared_pool_asked_for_after_the_environment_exists_is_refused_and_sessions_keep_their_own_pools()
    {
        // Any session or version query creates the environment; from then on its pools are fixed.
        _ = OrtEnv.Instance().GetVersionString();
        Assert.True(OrtEnv.IsCreated);

        var error = Assert.Throws<InvalidOperationException>(() => OnnxRuntimeThreading.UseSharedPool(2));

        Assert.Contains("before any ONNX Runtime session", error.Message);
        Assert.Null(OnnxRuntimeThreading.SharedThreads);
        Assert.Equal("a pool per session, spinning=off", OnnxRuntimeThreading.PoolText);
        Assert.Contains("spinning=off", OnnxRuntimeRunner.SettingsText);
    }
}
