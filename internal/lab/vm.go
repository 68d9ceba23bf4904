package lab

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/vpngw/vpngw/internal/netx"
)

// VMSpec describes a VM to create.
type VMSpec struct {
	// ResourceGroup and Name identify the VM (case-insensitively).
	ResourceGroup string
	Name          string
	// VNet is the resource ID of the VNet (already ensured); Subnet the
	// name of one of its subnets, not GatewaySubnet.
	VNet   string
	Subnet string
}

// VM is a lab VM: a namespace with one interface in a VNet subnet and a
// default route to the VNet router.
type VM struct {
	// ResourceGroup and Name identify the VM.
	ResourceGroup string `json:"resourceGroup"`
	Name          string `json:"name"`
	// VNet is the VNet's resource ID; Subnet the subnet's name.
	VNet   string `json:"vnet"`
	Subnet string `json:"subnet"`
	// Namespace is the VM's network namespace.
	Namespace string `json:"namespace"`
	// IPAddress is the VM's address on eth0.
	IPAddress netip.Addr `json:"ipAddress"`
	// AddressPrefix is the subnet prefix the address is in.
	AddressPrefix netip.Prefix `json:"addressPrefix"`
	// DefaultGateway is the VNet router's address in the subnet.
	DefaultGateway netip.Addr `json:"defaultGateway"`
}

// checkName validates a resource group or VM name.
func checkName(what, s string) error {
	if s == "" || len(s) > 90 || strings.ContainsAny(s, "/\\?#%\x00") {
		return fmt.Errorf("%w: %s %q: want 1-90 characters without / \\ ? # %%", ErrInvalid, what, s)
	}
	return nil
}

// CreateVM creates a VM (or repairs the one with the same resource group
// and name, returning it). A VM of that name in another VNet or subnet is a
// conflict: delete it first.
func (l *Lab) CreateVM(ctx context.Context, spec VMSpec) (VM, error) {
	if err := checkName("resource group", spec.ResourceGroup); err != nil {
		return VM{}, err
	}
	if err := checkName("VM name", spec.Name); err != nil {
		return VM{}, err
	}
	if strings.EqualFold(spec.Subnet, GatewaySubnetName) {
		return VM{}, fmt.Errorf("%w: VMs cannot be placed in the GatewaySubnet; it is reserved for the gateway's instances", ErrInvalid)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.st.VNets[strings.ToLower(spec.VNet)]
	if !ok {
		return VM{}, fmt.Errorf("%w: VNet %s", ErrNotFound, spec.VNet)
	}
	sn, ok := v.Spec.subnet(spec.Subnet)
	if !ok {
		return VM{}, fmt.Errorf("%w: subnet %s in VNet %s", ErrNotFound, spec.Subnet, spec.VNet)
	}
	key := vmKey(spec.ResourceGroup, spec.Name)
	if vm, ok := l.st.VMs[key]; ok {
		if !strings.EqualFold(vm.VNet, spec.VNet) || !strings.EqualFold(vm.Subnet, spec.Subnet) {
			return VM{}, fmt.Errorf("%w: VM %s in resource group %s exists in subnet %s of %s; delete it first", ErrConflict, vm.Name, vm.ResourceGroup, vm.Subnet, vm.VNet)
		}
		if err := l.realizeVM(ctx, vm); err != nil {
			return VM{}, err
		}
		return *vm, nil
	}
	ns := l.names.VM(spec.ResourceGroup, spec.Name)
	addr, err := l.allocate(v.Spec.ID, sn, netip.Addr{}, ns)
	if err != nil {
		return VM{}, err
	}
	vm := &VM{
		ResourceGroup:  spec.ResourceGroup,
		Name:           spec.Name,
		VNet:           v.Spec.ID,
		Subnet:         sn.Name,
		Namespace:      ns,
		IPAddress:      addr.Addr(),
		AddressPrefix:  addr.Masked(),
		DefaultGateway: netx.Router(addr.Masked()),
	}
	l.st.VMs[key] = vm
	if err := l.save(); err != nil {
		return VM{}, err
	}
	if err := l.realizeVM(ctx, vm); err != nil {
		return VM{}, err
	}
	l.log.Info("created VM", "vm", vm.Name, "group", vm.ResourceGroup, "ip", vm.IPAddress, "ns", ns)
	return *vm, nil
}

// GetVM returns a VM.
func (l *Lab) GetVM(resourceGroup, name string) (VM, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	vm, ok := l.st.VMs[vmKey(resourceGroup, name)]
	if !ok {
		return VM{}, fmt.Errorf("%w: VM %s in resource group %s", ErrNotFound, name, resourceGroup)
	}
	return *vm, nil
}

// VMs lists the VMs, of one resource group when resourceGroup is not
// empty, ordered by group and name.
func (l *Lab) VMs(resourceGroup string) []VM {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []VM{}
	for _, k := range sortedKeys(l.st.VMs) {
		if vm := l.st.VMs[k]; resourceGroup == "" || strings.EqualFold(vm.ResourceGroup, resourceGroup) {
			out = append(out, *vm)
		}
	}
	return out
}

// DeleteVM deletes a VM with the processes inside it. It returns
// ErrNotFound if there is no such VM.
func (l *Lab) DeleteVM(ctx context.Context, resourceGroup, name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	vm, ok := l.st.VMs[vmKey(resourceGroup, name)]
	if !ok {
		return fmt.Errorf("%w: VM %s in resource group %s", ErrNotFound, name, resourceGroup)
	}
	return l.deleteVM(ctx, vm)
}

func (l *Lab) deleteVM(ctx context.Context, vm *VM) error {
	if err := l.stopProcessesIn(ctx, vm.Namespace); err != nil {
		return err
	}
	if err := l.detach(vm.VNet, vm.Namespace); err != nil {
		return err
	}
	if err := deleteNS(ctx, vm.Namespace, l.stopTimeout); err != nil {
		return err
	}
	delete(l.st.VMs, vmKey(vm.ResourceGroup, vm.Name))
	l.log.Info("deleted VM", "vm", vm.Name, "group", vm.ResourceGroup)
	return l.save()
}

// realizeVM makes the VM's namespace, its attachment and its default route.
func (l *Lab) realizeVM(ctx context.Context, vm *VM) error {
	v, ok := l.st.VNets[strings.ToLower(vm.VNet)]
	if !ok {
		return fmt.Errorf("%w: VNet %s of VM %s", ErrNotFound, vm.VNet, vm.Name)
	}
	if _, err := ensureNS(ctx, vm.Namespace); err != nil {
		return err
	}
	if err := setSysctls(vm.Namespace, hostSysctls()); err != nil {
		return err
	}
	if err := l.realizeVNetFor(ctx, v); err != nil {
		return err
	}
	if err := l.attach(v, attachment{vm.Namespace, IfVM, vm.Subnet, netip.PrefixFrom(vm.IPAddress, vm.AddressPrefix.Bits())}); err != nil {
		return err
	}
	c, err := dial(vm.Namespace)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.setRoutes(l.endpointRoutes(vm.Namespace), false)
}
