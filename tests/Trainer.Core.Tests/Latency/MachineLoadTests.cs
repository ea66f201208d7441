using System.Diagnostics;
using Trainer.Core.Latency;

namespace Trainer.Core.Tests.Latency;

public sealed class MachineLoadTests
{
    [Fact]
    public async Task Another_process_spinning_a_core_counts_and_the_figure_stays_within_the_cores()
    {
        if (!File.Exists("/proc/stat")) return;   // Linux only; the project's machines are Debian
        // This process spins a core (its own load is taken out; other test processes may add theirs): a figure in range.
        using var stop = new CancellationTokenSource();
        var spin = Task.Run(() => { while (!stop.IsCancellationRequested) Thread.SpinWait(1000); });
        var whileWeSpin = MachineLoad.OtherBusyCores(TimeSpan.FromMilliseconds(500));
        stop.Cancel();
        await spin;
        Assert.NotNull(whileWeSpin);
        Assert.InRange(whileWeSpin!.Value, 0, Environment.ProcessorCount);

        // Another process spinning a core is counted (other test processes can only add to it).
        using var yes = Process.Start(new ProcessStartInfo("sh", "-c \"exec yes > /dev/null\"") { UseShellExecute = false })!;
        try
        {
            Thread.Sleep(200);
            var busy = MachineLoad.OtherBusyCores(TimeSpan.FromMilliseconds(500));
            Assert.True(busy >= 0.7, $"a spinning process counted as {busy} cores");
        }
        finally
        {
            yes.Kill(entireProcessTree: true);
            yes.WaitForExit();
        }
    }
}
